r"""The paper's ablations in miniature: S-CNN-RNN against NIC-F, NIC-deeply, CNN+logistic (+Tag1K).

Trains every variant on the built-in synthetic dataset with the project's own training CLI (the
demo flagfiles, `s_cnn_rnn/train.py`'s flags and `main`) and scores it with the evaluation
library behind `s-cnn-rnn-evaluate`, with the same image-step budget and the same seeds. Prints
Table 2 (multi-label, x100) and Table 4 (captions) style tables as mean±std over seeds with the
key metric's [min, max], writes `ablation_results.json`, `ablation_tables.txt` and
`ablation_curves.png` (validation losses and the task metric against image steps), and prints as
the last line one JSON object with the means.

Budgets. C, R, J are the flagfile's cnn/rnn/joint step counts times --step_scale. Every variant
gets C + J steps of stages that read images (the flagfile's batch size):
  S-CNN-RNN (+Tag1K)  cnn C, rnn R, joint J  (the rnn stage trains the decoder on ground-truth
                      concepts and reads no image: Ours' extra, included in its train seconds)
  NIC-deeply          cnn C, joint J
  NIC-F               joint C + J  (end to end from a random CNN, L_r only)
  CNN+logistic        cnn C + J
The seed changes initialisation and shuffling; the data (generator seed 0) is the same for all.

Curves. Loss: the `val_*` records of each stage's history.jsonl (about 10 per run). Metric (O-F1
of the decoded labels, CNN+logistic's top-3; CIDEr): the final stage's 3 checkpoints and, for
S-CNN-RNN, the pretrained model before the joint stage, on the first --curve_max_images val
images, for the --curve_seeds.

The flagfiles are copied into OUTPUT_DIR/flags at the first run and every run trains from those
copies; a later change to flags/ is refused for that output dir (the runs would not match).

Each run is one `bench/ablation_worker.py` process (train + all its evaluations). A rerun reuses
finished work: a run whose run_result.json exists is not started again; inside a run, training is
skipped when train_done.json records the same budget (the trainer resumes an unfinished stage)
and an evaluation when its metrics.json exists.

Example:
  python bench/ablation.py --data_dir=/tmp/s_cnn_rnn_data --seeds=0,1,2 --step_scale=0.5
  python bench/ablation.py --quick   # tiny smoke run: own tiny data, seed 0, a few steps
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from bench import ablation_plot as report  # noqa: E402  (tables and figure; matplotlib imported lazily)
from bench import ablation_worker as worker  # noqa: E402  (no TensorFlow in this process)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("multilabel", "caption")
# --quick: a few steps of a tiny model on tiny data (what the smoke test runs).
QUICK_STEPS = {"cnn": 4, "rnn": 4, "joint": 2}
QUICK_TRAIN_FLAGS = ("--small_cnn_width=8", "--embedding_dim=16", "--lstm_units=16", "--image_size=32",
                     "--batch_size=8", "--validation_steps=1", "--log_every=1")
QUICK_DATA_FLAGS = ("--synthetic_num_train=48", "--synthetic_num_val=8", "--synthetic_num_test=8",
                    "--synthetic_image_size=32", "--num_concepts=40", "--num_workers=0")
QUICK_EVAL_IMAGES = 8

_OUTPUT_DIR = flags.DEFINE_string("output_dir", os.path.join(tempfile.gettempdir(), "s_cnn_rnn_ablation"),
                                  "Runs, results, tables and the figure go here.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Converted synthetic data to reuse (default: convert "
                                "into OUTPUT_DIR/data once, then reuse it).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds (--quick: 0 unless given).")
_TASKS = flags.DEFINE_list("tasks", list(TASKS), "multilabel and/or caption.")
_VARIANTS = flags.DEFINE_list("variants", list(worker.VARIANTS),
                              "Variants; each runs for the tasks it applies to (no CNN+logistic captions, "
                              "Tag1K for multi-label only).")
_STEP_SCALE = flags.DEFINE_float("step_scale", 1.0, "Multiplies the flagfiles' cnn/rnn/joint step counts.")
_CURVE_SEEDS = flags.DEFINE_list("curve_seeds", None, "Seeds whose checkpoints get the metric curve "
                                 "(default: all seeds; an empty value: none).")
_CURVE_POINTS = flags.DEFINE_integer("curve_points", 4, "At most this many metric-curve points per run.")
_CURVE_MAX_IMAGES = flags.DEFINE_integer("curve_max_images", 100, "Val images per metric-curve point.")
_TEST_MAX_IMAGES = flags.DEFINE_integer("test_max_images", None, "Test images per final evaluation (all).")
_TRAIN_FLAGS = flags.DEFINE_multi_string("train_flag", [], "Extra `s-cnn-rnn-train` flag for every run.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at the same time (each is one process).")
_QUICK = flags.DEFINE_bool("quick", False, "Tiny smoke run: tiny data and model, a few steps, seed 0.")


class RunError(RuntimeError):
    """A conversion or a run failed."""


def run_logged(command: list, log_path: str) -> subprocess.Popen:
    """Starts `command` in the project root with its output in `log_path`."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with  (closed by wait_logged)
    log.write(" ".join(command) + "\n")
    log.flush()
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment)
    process.log, process.log_path = log, log_path
    return process


def wait_logged(process: subprocess.Popen) -> None:
    """Waits for a `run_logged` process; a failure raises RunError with the end of its log."""
    code = process.wait()
    process.log.close()
    if code != 0:
        with open(process.log_path, encoding="utf-8", errors="replace") as log:
            tail = "".join(log.readlines()[-20:])
        raise RunError(f"{' '.join(process.args)}\nfailed (exit {code}); log {process.log_path}:\n{tail}")


def ensure_data(output_dir: str, data_dir: str | None, quick: bool) -> str:
    """The converted data: --data_dir, or OUTPUT_DIR/data (converted once, then reused)."""
    if data_dir:
        if not os.path.exists(os.path.join(data_dir, "manifest.json")):
            raise RunError(f"--data_dir={data_dir} has no manifest.json: convert it first with "
                           "`python -m data_prep.convert --dataset=synthetic --output_dir=DIR`")
        return os.path.abspath(data_dir)
    data_dir = os.path.join(output_dir, "data")
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        started = time.monotonic()
        wait_logged(run_logged([sys.executable, "-m", "data_prep.convert", "--dataset=synthetic",
                                f"--output_dir={data_dir}", "--overwrite", "--noprogress",
                                *(QUICK_DATA_FLAGS if quick else ())], os.path.join(output_dir, "convert.log")))
        print(f"converted the synthetic dataset into {data_dir} in {time.monotonic() - started:.0f} s", flush=True)
    return data_dir


def snapshot_flagfiles(output_dir: str, tasks: list) -> dict:
    """{task: OUTPUT_DIR/flags/<flagfile>}: copies taken at the first run, so that every run of an
    output dir trains with the same settings even while flags/ is being edited."""
    snapshots = {}
    for task in tasks:
        source = os.path.join(PROJECT_ROOT, worker.FLAGFILES[task])
        snapshot = os.path.join(output_dir, "flags", os.path.basename(source))
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
        if os.path.exists(snapshot):
            with open(snapshot, encoding="utf-8") as handle:
                if handle.read() != text:
                    raise RunError(f"{source} changed since {snapshot} was copied for the runs in {output_dir}: "
                                   "use a new --output_dir (or delete that copy and the runs trained with it)")
        else:
            os.makedirs(os.path.dirname(snapshot), exist_ok=True)
            with open(f"{snapshot}.tmp-{os.getpid()}", "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(f"{snapshot}.tmp-{os.getpid()}", snapshot)
        snapshots[task] = snapshot
    return snapshots


def plan_runs(tasks: list, keys: list, seeds: list, steps_by_task: dict) -> list:
    """[(task, variant key, seed, budget)], seed-major so that a partial ablation is balanced."""
    return [(task, key, seed, worker.variant_budget(worker.VARIANTS[key][0], steps_by_task[task],
                                                    use_tags=worker.VARIANTS[key][1]))
            for task in tasks for seed in seeds for key in keys if key in worker.VARIANTS_BY_TASK[task]]


def _reusable(result_path: str, budget: dict, want_curve: bool) -> dict | None:
    if not os.path.exists(result_path):
        return None
    record = worker.read_json(result_path)
    if record["budget"] != budget or (want_curve and not record["metric_curve"]):
        return None
    return record


def execute(runs: list, output_dir: str, data_dir: str, settings: dict, parallel: int, started: float) -> list:
    """Runs (or reuses) every run, up to `parallel` worker processes at a time; returns the records."""
    records, pending, running = {}, list(enumerate(runs)), []
    while pending or running:
        while pending and len(running) < parallel:
            index, (task, key, seed, budget) = pending.pop(0)
            run_dir = os.path.join(output_dir, "runs", task, key, f"seed{seed}")
            want_curve = seed in settings["curve_seeds"]
            record = _reusable(os.path.join(run_dir, worker.RESULT_FILE), budget, want_curve)
            if record is not None:
                records[index] = record
                continue
            spec = {"task": task, "variant": key, "seed": seed, "budget": budget, "run_dir": run_dir,
                    "test_max_images": settings["test_max_images"], "curve": want_curve,
                    "curve_points": settings["curve_points"], "curve_max_images": settings["curve_max_images"]}
            worker.write_json(os.path.join(run_dir, "spec.json"), spec)
            command = [sys.executable, os.path.join(PROJECT_ROOT, "bench", "ablation_worker.py"),
                       f"--ablation_spec={os.path.join(run_dir, 'spec.json')}",
                       *worker.train_flags(settings["flagfiles"][task], key, seed, budget, data_dir,
                                           os.path.join(run_dir, "model")),
                       *settings["train_flags"]]
            running.append((index, run_dir, time.monotonic(), run_logged(command, os.path.join(run_dir, "worker.log"))))
        time.sleep(0.2)
        for item in [item for item in running if item[3].poll() is not None]:
            running.remove(item)
            index, run_dir, tick, process = item
            try:
                wait_logged(process)
            except RunError:
                for *_, other in running:  # a rerun resumes them
                    other.terminate()
                    other.wait()
                raise
            record = records[index] = worker.read_json(os.path.join(run_dir, worker.RESULT_FILE))
            print(f"  {record['task']} {record['variant']} seed {record['seed']}: "
                  f"{report.headline(record['task'], record['variant'], record['test_metrics'])} "
                  f"(train {record['train_seconds']:.0f} s, run {time.monotonic() - tick:.0f} s; "
                  f"ablation {time.monotonic() - started:.0f} s)", flush=True)
    return [records[index] for index in range(len(runs))]


def _settings(quick: bool) -> dict:
    tasks = [task for task in _TASKS.value if task]
    unknown = sorted(set(tasks) - set(TASKS)) + sorted(set(_VARIANTS.value) - set(worker.VARIANTS))
    if unknown:
        raise app.UsageError(f"unknown task or variant {unknown}: tasks {TASKS}, variants {tuple(worker.VARIANTS)}")
    seed_list = ["0"] if quick and flags.FLAGS["seeds"].using_default_value else _SEEDS.value
    seeds = [int(seed) for seed in seed_list]
    curve_seeds = seeds if _CURVE_SEEDS.value is None else [int(seed) for seed in _CURVE_SEEDS.value if seed]
    return {"tasks": tasks, "variants": list(_VARIANTS.value), "seeds": seeds, "curve_seeds": curve_seeds,
            "step_scale": _STEP_SCALE.value, "quick": quick, "curve_points": _CURVE_POINTS.value,
            "curve_max_images": QUICK_EVAL_IMAGES if quick else _CURVE_MAX_IMAGES.value,
            "test_max_images": QUICK_EVAL_IMAGES if quick else _TEST_MAX_IMAGES.value,
            "train_flags": [*(QUICK_TRAIN_FLAGS if quick else ()), *_TRAIN_FLAGS.value]}


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    started = time.monotonic()
    settings = _settings(_QUICK.value)
    output_dir = os.path.abspath(_OUTPUT_DIR.value)
    try:
        settings["data_dir"] = ensure_data(output_dir, _DATA_DIR.value, settings["quick"])
        settings["flagfiles"] = snapshot_flagfiles(output_dir, settings["tasks"])
        settings["steps"] = {task: dict(QUICK_STEPS) if settings["quick"] else worker.scaled_steps(
            settings["flagfiles"][task], settings["step_scale"]) for task in settings["tasks"]}
    except (RunError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for task, steps in settings["steps"].items():
        print(f"{task}: C={steps['cnn']} R={steps['rnn']} J={steps['joint']} (image steps per run "
              f"{steps['cnn'] + steps['joint']}), seeds {settings['seeds']}", flush=True)
    runs = plan_runs(settings["tasks"], settings["variants"], settings["seeds"], settings["steps"])
    try:
        records = execute(runs, output_dir, settings["data_dir"], settings, max(1, _PARALLEL.value), started)
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = report.summarise(records)
    tables = report.tables(summary, settings)
    wall_seconds = round(time.monotonic() - started, 1)
    worker.write_json(os.path.join(output_dir, "ablation_results.json"),
                      {"settings": settings, "summary": summary, "runs": records, "wall_seconds": wall_seconds})
    tables_path = os.path.join(output_dir, "ablation_tables.txt")
    with open(f"{tables_path}.tmp-{os.getpid()}", "w", encoding="utf-8") as handle:
        handle.write(tables + "\n")
    os.replace(f"{tables_path}.tmp-{os.getpid()}", tables_path)
    figure = report.plot_curves(records, os.path.join(output_dir, "ablation_curves.png"))
    print(tables)
    print(f"wrote {os.path.join(output_dir, 'ablation_results.json')}, {figure}", flush=True)
    print(json.dumps(report.means_line(summary, wall_seconds), sort_keys=True))
    return 0


if __name__ == "__main__":
    app.run(main)
