r"""`s-cnn-rnn-reproduce`: trains and evaluates every row of one of the paper's tables and prints it
beside the published numbers.

Example (the built-in dataset on a CPU; flags the command does not know go to every row's training,
after the row's flagfile):
  s-cnn-rnn-convert --dataset=synthetic --output_dir=/tmp/synthetic
  s-cnn-rnn-reproduce --table=4 --data_dir=/tmp/synthetic --output_dir=/tmp/table4 --scale=0.001 \
      --seeds=0,1,2 --backbone=small_cnn --backbone_weights=none --image_size=96

Writes OUTPUT_DIR/<row>/seed<k>/ (model, train.log, evaluate.log, eval_<split>/metrics.json) and
OUTPUT_DIR/table<N>.{md,json,png}. A rerun skips finished rows and resumes an interrupted one.
"""

import os
import sys
import time

from absl import app
from absl import flags

from s_cnn_rnn.reproduce import aggregate
from s_cnn_rnn.reproduce import render
from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.reproduce import tables as tables_lib

FLAGS = flags.FLAGS

flags.DEFINE_enum("table", None, [str(number) for number in tables_lib.TABLES],
                  "The paper's table: 1 (NUS-WIDE labels), 2 (COCO labels) or 4 (COCO captions ablation).")
flags.DEFINE_string("data_dir", None, "Converted data (s-cnn-rnn-convert) every row trains and is evaluated on.")
flags.DEFINE_string("output_dir", None, "Model dirs (<row>/seed<k>) and table<N>.md/.json/.png go here.")
flags.DEFINE_float("scale", 1.0, "Multiplies every stage's step count and its log, checkpoint and validation "
                   "intervals (the training's --step_scale), so that a table fits a CPU.")
flags.DEFINE_list("seeds", ["0"], "Training seeds; several give mean +- std and paired per-seed differences.")
flags.DEFINE_list("rows", [], "Only these rows (keys such as coco_caption_ours, or paper names); default all.")
flags.DEFINE_string("split", "test", "The split every row is evaluated on.")
flags.DEFINE_integer("eval_max_images", None, "Evaluate only the first this many images of the split.")
flags.DEFINE_string("flags_dir", None, "Folder of the experiment flagfiles (default: the checkout's or the "
                    "installed flags/).")


def _plan(table, data_dir: str, output_dir: str, seeds: list, extra_flags: list):
    """(runs seed-major, so a partial multi-seed table is balanced; {row key: skip reason}; flags dir)."""
    flags_dir = runner.find_flags_dir(FLAGS.flags_dir)
    rows = tables_lib.select_rows(table, FLAGS.rows)
    skipped = {row.key: reason for row in rows
               if (reason := tables_lib.missing_requirement(table, row, data_dir)) is not None}
    runs = [(row, runner.plan_run(row, seed, flags_dir=flags_dir, data_dir=data_dir, output_dir=output_dir,
                                  split=FLAGS.split, scale=FLAGS.scale, extra_flags=extra_flags,
                                  eval_max_images=FLAGS.eval_max_images))
            for seed in seeds for row in rows if row.key not in skipped]
    return runs, skipped, flags_dir


def main(argv) -> int:
    extra_flags = [arg for arg in argv[1:] if arg != "--"]
    table = tables_lib.TABLES[int(FLAGS.table)]
    started = time.monotonic()
    try:
        seeds = [int(seed) for seed in FLAGS.seeds]
        if not seeds or FLAGS.scale <= 0:
            raise ValueError(f"--seeds needs at least one seed and --scale must be > 0 (got {FLAGS.seeds}, "
                             f"{FLAGS.scale})")
        runner.check_extra_flags(extra_flags)
        data_dir, output_dir = os.path.abspath(FLAGS.data_dir), os.path.abspath(FLAGS.output_dir)
        runs, skipped, flags_dir = _plan(table, data_dir, output_dir, seeds, extra_flags)
        for _, run in runs:  # before any work: a table never mixes two settings
            runner.check_settings(run)
    except (ValueError, FileNotFoundError, runner.RunError) as error:
        print(f"s-cnn-rnn-reproduce: error: {error}", file=sys.stderr)
        return 1
    for key, reason in skipped.items():
        print(f"Table {table.number} row {key}: skipped: {reason}", flush=True)
    per_seed, timings = {}, {}
    for row, run in runs:
        label = f"Table {table.number} row {row.name} ({row.key}) seed {run.seed}"
        if runner.is_finished(run):
            print(f"{label}: finished earlier ({run.metrics_path}), skipped", flush=True)
        else:
            print(f"{label}: training and evaluating in {run.model_dir}", flush=True)
            try:
                timing = runner.execute(run, flags_dir)
            except runner.RunError as error:
                print(f"s-cnn-rnn-reproduce: error: {label}: {error}\nrerun the same command to resume",
                      file=sys.stderr)
                return 1
            print(f"{label}: done (train {timing['train_seconds']:.0f} s, evaluate "
                  f"{timing['evaluate_seconds']:.0f} s)", flush=True)
        result = runner.read_result(run)
        try:
            values = aggregate.row_values(table, row, result["metrics"]["metrics"])
        except ValueError as error:  # e.g. an extra --variant flag turned every row into one model
            print(f"s-cnn-rnn-reproduce: error: {label}: {run.metrics_path}: {error}", file=sys.stderr)
            return 1
        per_seed.setdefault(row.key, {})[run.seed] = values
        timings.setdefault(row.key, {})[str(run.seed)] = result["timing"]
    records = aggregate.summarise(table, per_seed, skipped, seeds)
    for record in records:
        record["timing"] = timings.get(record["key"], {})
    settings = {"seeds": seeds, "scale": FLAGS.scale, "split": FLAGS.split, "data_dir": data_dir,
                "extra_flags": extra_flags, "eval_max_images": FLAGS.eval_max_images,
                "wall_seconds": round(time.monotonic() - started, 1)}
    paths = render.write_all(table, records, settings, output_dir)
    print(render.markdown(table, records, settings))
    print(f"wrote {paths['markdown']}, {paths['json']}, {paths['png']}", flush=True)
    return 0


def _parse(argv: list) -> list:
    """Parses this command's flags; the others (training flags) come back as arguments for every row."""
    try:
        return FLAGS(argv, known_only=True)
    except flags.Error as error:  # what absl's own parser does: one line, no traceback
        print(f"s-cnn-rnn-reproduce: error: {error}\nPass --help to see the flags.", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-reproduce`)."""
    flags.mark_flags_as_required(["table", "data_dir", "output_dir"])
    sys.modules["__main__"].__doc__ = __doc__  # --help shows this module's usage, however it was started
    app.run(main, flags_parser=_parse)
