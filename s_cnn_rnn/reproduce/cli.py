r"""`s-cnn-rnn-reproduce`: trains and evaluates every row of one of the paper's tables and prints it
beside the published numbers.

Example (the paper's claims in miniature on the built-in dataset and a CPU: every row on the same
budget, its learning rates picked on validation at seed 100, test seeds 0-7, a verdict per claim; flags
the command does not know go to every row's training, after the row's flagfile):
  s-cnn-rnn-convert --dataset=synthetic --output_dir=/tmp/synthetic
  s-cnn-rnn-reproduce --table=4 --protocol=fair --lr_grid=0.3,1,3,10 --parallel=2 \
      --data_dir=/tmp/synthetic --output_dir=/tmp/table4 --flagfile=flags/miniature_caption.flags

Writes OUTPUT_DIR/<row>/[lr<factor>/]seed<k>/ (model, train.log, evaluate.log, timing.json,
eval_<split>/metrics.json), OUTPUT_DIR/<row>/lr_selection.json and OUTPUT_DIR/table<N>.{md,json,png}
and table<N>_efficiency.png. A rerun skips finished runs and resumes an interrupted one.
"""

import dataclasses
import os
import sys
import time

from absl import app
from absl import flags

from s_cnn_rnn import command_line
from s_cnn_rnn.reproduce import aggregate
from s_cnn_rnn.reproduce import claims
from s_cnn_rnn.reproduce import efficiency
from s_cnn_rnn.reproduce import jobs
from s_cnn_rnn.reproduce import output_dir as output_dir_lib
from s_cnn_rnn.reproduce import pretrained_backbone
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import render
from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.reproduce import tables as tables_lib
from s_cnn_rnn.reproduce import verdicts

FLAGS = flags.FLAGS

flags.DEFINE_enum("table", None, [str(number) for number in tables_lib.TABLES],
                  "The paper's table: 1 (NUS-WIDE labels), 2 (COCO labels) or 4 (COCO captions ablation).")
flags.DEFINE_string("data_dir", None, "Converted data (s-cnn-rnn-convert) every row trains and is evaluated on.")
flags.DEFINE_string("output_dir", None, "Model dirs (<row>/seed<k>) and table<N>.md/.json/.png go here.")
flags.DEFINE_float("scale", 1.0, "Multiplies every stage's step count and its log, checkpoint and validation "
                   "intervals (the training's --step_scale), so that a table fits a CPU; a scaled stage "
                   "checkpoints and validates at most about 20 times.")
flags.DEFINE_list("seeds", None, "Training (test) seeds; several give mean +- std, paired per-seed differences and "
                  "a verdict per claim of the paper. Default: 0-7 under --protocol=fair, 0 under flagfiles.")
flags.DEFINE_integer("selection_seed", 100, "fair: the seed the --lr_grid runs train at; never a test seed, so "
                     "that no test seed is scored on the run that picked its learning rate.")
flags.DEFINE_list("rows", [], "Only these rows (keys such as coco_caption_ours, or paper names); default all.")
flags.DEFINE_string("split", "test", "The split every row is evaluated on.")
flags.DEFINE_integer("eval_max_images", None, "Evaluate only the first this many images of the split.")
flags.DEFINE_enum("protocol", "flagfiles", ["flagfiles", "fair"],
                  "flagfiles: every row trains its flagfile's step counts (times --scale). fair: every row gets "
                  "the same budget (--budget_*: every CNN C+J image steps, every decoder R updates first; "
                  "BUILD_NOTES 'The fair protocol').")
flags.DEFINE_integer("budget_cnn_steps", 100, "fair: C, the image steps of stage 1.", lower_bound=1)
flags.DEFINE_integer("budget_decoder_steps", 300, "fair: R, the decoder's updates before the joint stage (on "
                     "ground-truth concepts for Ours, on the frozen CNN's features for NIC-F/NIC-deeply/RIA).",
                     lower_bound=1)
flags.DEFINE_integer("budget_joint_steps", 100, "fair: J, the image steps of the joint stage.", lower_bound=1)
flags.DEFINE_integer("budget_tags_steps", 150, "fair: T, the tag MLP's image-free updates (Tag1K rows).",
                     lower_bound=1)
flags.DEFINE_integer("budget_head_steps", 20, "fair: H, the head-only steps among the C of a row whose recipe "
                     "learns the concept layer alone first (the captioning rows, Sec. 5.1).", lower_bound=0)
flags.DEFINE_string("pretrained_backbone", None, "A .weights.h5 path every row's backbone starts from (the "
                    "miniature's ImageNet): made by s-cnn-rnn-pretrain-backbone at the rows' backbone settings when "
                    "it does not exist, reused when it does. Default: each row's --backbone_weights.")
flags.DEFINE_list("lr_grid", [], "Learning-rate factors (e.g. 0.3,1,3): every row trains the selection seed (fair; "
                  "flagfiles: the first seed) at each factor times its flagfile's rates and keeps the one best on "
                  "the validation split; empty: no grid.")
flags.DEFINE_integer("parallel", 1, "Trainings/evaluations at a time (each gets the CPU cores shared out).",
                     lower_bound=1)
flags.DEFINE_string("flags_dir", None, "Folder of the experiment flagfiles (default: the checkout's or the "
                    "installed flags/).")


def _settings(table, seeds: list, extra_flags: list) -> jobs.Settings:
    """The run's settings from the flags.

    Raises:
      ValueError: a bad value, naming the flag; FileNotFoundError: no flagfiles.
    """
    if not seeds or FLAGS.scale <= 0:
        raise ValueError(f"--seeds needs at least one seed and --scale must be > 0 (got {FLAGS.seeds}, {FLAGS.scale})")
    runner.check_extra_flags(extra_flags)
    # Every command runs in the project folder: a flagfile named relative to here must still be found.
    extra_flags = [f"--flagfile={os.path.abspath(flag.split('=', 1)[1])}"
                   if flag.startswith("--flagfile=") and os.path.isfile(flag.split("=", 1)[1]) else flag
                   for flag in extra_flags]
    budget, selection_seed = None, None
    if FLAGS.protocol == "fair":
        selection_seed = FLAGS.selection_seed
        budget = protocol.Budget(FLAGS.budget_cnn_steps, FLAGS.budget_decoder_steps, FLAGS.budget_joint_steps,
                                 FLAGS.budget_tags_steps, FLAGS.budget_head_steps)
        protocol.check_extra_flags(extra_flags)
    elif FLAGS["selection_seed"].present:
        raise ValueError("--selection_seed applies under --protocol=fair only (flagfiles: the grid runs at the "
                         "first of --seeds); drop it")
    try:
        grid = tuple(float(factor) for factor in FLAGS.lr_grid)
    except ValueError:
        raise ValueError(f"--lr_grid={','.join(FLAGS.lr_grid)}: expected numbers such as 0.3,1,3") from None
    if any(factor <= 0 for factor in grid) or len(set(grid)) != len(grid):
        raise ValueError(f"--lr_grid={','.join(FLAGS.lr_grid)}: the factors must be > 0 and different")
    return jobs.Settings(runner.find_flags_dir(FLAGS.flags_dir), os.path.abspath(FLAGS.data_dir),
                         os.path.abspath(FLAGS.output_dir), table.task, tuple(seeds), FLAGS.split, FLAGS.scale,
                         tuple(extra_flags), FLAGS.eval_max_images, budget, grid, FLAGS.parallel,
                         os.path.abspath(os.path.expanduser(FLAGS.pretrained_backbone)) if FLAGS.pretrained_backbone
                         else None, selection_seed)


def _efficiency(table, runs: list, output_dir: str) -> tuple:
    """The validation score against training cost of every run: (summary per row, the PNG's path).

    Raises:
      efficiency.EfficiencyError: a run's histories carry no stage clock.
    """
    curves = {}
    for row, run in runs:
        metric = efficiency.metric_for(run.model_dir, table.task)
        curves.setdefault(row.name, []).append(efficiency.read_curve(run.model_dir, metric))
    title = "validation CIDEr" if table.task == "caption" else "validation O-F1 (CNN+logistic: its top-3)"
    path = efficiency.write_figure(curves, os.path.join(output_dir, f"table{table.number}_efficiency.png"), title)
    return efficiency.summary(curves), path


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv) -> int:
    extra_flags = [arg for arg in argv[1:] if arg != "--"]
    table = tables_lib.TABLES[int(FLAGS.table)]
    started = time.monotonic()
    try:
        seeds = FLAGS.seeds if FLAGS.seeds is not None else protocol.DEFAULT_SEEDS[FLAGS.protocol]
        settings = _settings(table, [int(seed) for seed in seeds], extra_flags)
        backbone = settings.pretrained_backbone
        output_dir_lib.check(settings.output_dir, settings.data_dir, settings.flags_dir, own_files=(
            (backbone, pretrained_backbone.report_path(backbone), pretrained_backbone.log_path(backbone))
            if backbone else ()))
        rows = tables_lib.select_rows(table, FLAGS.rows)
        skipped = {row.key: reason for row in rows
                   if (reason := tables_lib.missing_requirement(table, row, settings.data_dir)) is not None}
        rows = tuple(row for row in rows if row.key not in skipped)
        planned = [jobs.plan(row, seed, settings, factor) for row in rows
                   for factor in settings.lr_grid or (None,)
                   for seed in dict.fromkeys((*settings.seeds, settings.grid_seed))]
        for run in planned:  # before any work: a table never mixes two settings
            runner.check_settings(run)
        if settings.pretrained_backbone and planned:
            made = pretrained_backbone.ensure(settings.pretrained_backbone, settings.flags_dir, planned, _log)
            _log(f"pretrained backbone {settings.pretrained_backbone}: held-out top-1 {made.get('heldout_top1')}")
    except (ValueError, FileNotFoundError, runner.RunError) as error:
        print(f"s-cnn-rnn-reproduce: error: {error}", file=sys.stderr)
        return 2  # the project's exit status for an error the user can fix
    for key, reason in skipped.items():
        _log(f"Table {table.number} row {key}: skipped: {reason}")
    log = lambda message: _log(f"Table {table.number} {message}")  # noqa: E731
    try:
        factors = jobs.select_learning_rates(rows, settings, log)
        runs = jobs.run_seeds(rows, settings, factors, log)
    except (runner.RunError, ValueError) as error:
        print(f"s-cnn-rnn-reproduce: error: Table {table.number}: {error}\nrerun the same command to resume",
              file=sys.stderr)
        return 1
    per_seed, timings = {}, {}
    for row, run in runs:
        result = runner.read_result(run)
        try:
            values = aggregate.row_values(table, row, result["metrics"]["metrics"])
        except ValueError as error:  # e.g. an extra --variant flag turned every row into one model
            print(f"s-cnn-rnn-reproduce: error: {run.metrics_path}: {error}", file=sys.stderr)
            return 2
        per_seed.setdefault(row.key, {})[run.seed] = values
        timings.setdefault(row.key, {})[str(run.seed)] = result["timing"]
    records = aggregate.summarise(table, per_seed, skipped, list(settings.seeds))
    for record in records:
        record["timing"] = timings.get(record["key"], {})
        selection = next((jobs.read_selection(settings, row) for row in rows if row.key == record["key"]), None)
        record["lr_selection"] = selection if settings.lr_grid else None
    judged = verdicts.judge(claims.for_table(table.number), table.number, tuple(row.name for row in table.rows),
                            records)
    summary = {"seeds": list(settings.seeds), "selection_seed": settings.grid_seed if settings.lr_grid else None,
               "scale": settings.scale, "split": settings.split,
               "data_dir": settings.data_dir, "extra_flags": extra_flags, "eval_max_images": settings.eval_max_images,
               "protocol": FLAGS.protocol, "budget": dataclasses.asdict(settings.budget) if settings.budget else None,
               "lr_grid": list(settings.lr_grid), "parallel": settings.parallel,
               "wall_seconds": round(time.monotonic() - started, 1)}
    try:
        costs, efficiency_png = _efficiency(table, runs, settings.output_dir)
    except efficiency.EfficiencyError as error:  # model dirs trained before the stage clock existed
        _log(f"Table {table.number}: no efficiency curves: {error}")
        costs, efficiency_png = {}, None
    for record in records:
        record["efficiency"] = costs.get(record["name"])
    paths = render.write_all(table, records, summary, settings.output_dir, judged)
    if efficiency_png:
        paths["efficiency_png"] = efficiency_png
    print(render.markdown(table, records, summary, judged))
    _log(f"Table {table.number} claims: {verdicts.summary(judged)}")
    _log(f"wrote {', '.join(paths.values())}")
    return 0


def _parse(argv: list) -> list:
    """Parses this command's flags; the others (training flags) come back as arguments for every row."""
    try:
        return FLAGS(argv, known_only=True)
    except flags.Error as error:  # what absl's own parser does: one line, no traceback
        print(f"s-cnn-rnn-reproduce: error: {error}\nPass --help to see the flags.", file=sys.stderr)
        sys.exit(2)


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-reproduce`)."""
    flags.mark_flags_as_required(["table", "data_dir", "output_dir"])
    sys.modules["__main__"].__doc__ = __doc__  # --help shows this module's usage, however it was started
    # The commands' error handling: a user error (a held lock, a read-only disk) is one line and exit
    # status 2, Ctrl-C one line and 130 (the children get it too and save their step).
    command_line.show_flags_in_help(__name__)
    app.run(command_line.guard(main, "s-cnn-rnn-reproduce"), flags_parser=_parse)
