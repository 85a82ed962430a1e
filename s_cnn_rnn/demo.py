r"""`s-cnn-rnn-demo`: the whole job on the built-in dataset, in CPU minutes.

  s-cnn-rnn-demo --output_dir=s_cnn_rnn_demo

1. generates the built-in synthetic dataset and converts it (`s-cnn-rnn-convert`);
2. trains the three stages of a multi-label and a captioning S-CNN-RNN (`s-cnn-rnn-train`
   with flags/demo_multilabel.flags and flags/demo_caption.flags);
3. evaluates both on the test split (`s-cnn-rnn-evaluate`), prints both tables;
4. writes results.json, report.html (+ one report page per task), training_curves.png and
   timing.json (wall and CPU seconds of each step, the load average).

Steps 2-3 of the two tasks run at the same time (`--noparallel`: one after the other), their
logs prefixed with the task; a line `[demo step k of 6: ... | elapsed, ETA]` marks each step.

Each step runs the project's own command line in a subprocess, so its progress shows as it
would for a user; a rerun skips what is already done (conversion, a training that finished with
the same command and flagfile, and an evaluation newer than the model's checkpoints).
"""

import glob
import html
import json
import os
import subprocess
import sys
import threading
from concurrent import futures
import time

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import flags  # noqa: E402

from s_cnn_rnn import atomic_files  # noqa: E402
from s_cnn_rnn import errors  # noqa: E402
from s_cnn_rnn.evaluation import curves  # noqa: E402
from s_cnn_rnn.evaluation import tables as tables_lib  # noqa: E402

FLAGS = flags.FLAGS

command_line.define_path("output_dir", "s_cnn_rnn_demo", "Where data, models, reports and results.json go.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic dataset and of training.")
flags.DEFINE_integer("num_train", 3000, "Synthetic training images.")
flags.DEFINE_integer("num_val", 500, "Synthetic validation images.")
flags.DEFINE_integer("num_test", 500, "Synthetic test images.")
flags.DEFINE_integer("train_steps", None, "If set, every stage's total steps (a quick look; default: the flagfiles').")
flags.DEFINE_bool("parallel", True, "Train and evaluate the two tasks at the same time (their logs prefixed "
                  "[multilabel] / [caption]); --noparallel runs them one after the other.")
command_line.define_path("flags_dir", None, "Folder of the demo flagfiles (default: the installed or checked-out flags/).")

TASKS = (
    # (task, flagfile, model dir name, results.json key, metrics kept)
    ("multilabel", "demo_multilabel.flags", "multilabel_model", "multilabel",
     ("C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1")),
    ("caption", "demo_caption.flags", "caption_model", "captioning", ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")),
)


def flags_dir() -> str:
    """The demo flagfiles: a source checkout's flags/, else the copy `pip install` put under sys.prefix."""
    candidates = [
        FLAGS.flags_dir,
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags"),
        os.path.join(sys.prefix, "share", "s-cnn-rnn", "flags"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "demo_caption.flags")):
            return candidate
    raise FileNotFoundError(
        f"the demo flagfiles were not found in {[c for c in candidates if c]}: reinstall the package "
        "(pip install .) or pass --flags_dir=PATH/TO/flags"
    )


class Progress:
    """One line of progress for the whole demo, printed between the steps' own logs.

    The ETA weighs the steps by their CPU seconds, measured on the 2-core CPU (README, "Demo");
    a step that is skipped on a rerun counts as done. Thread-safe: the two tasks run at once.
    """

    # step key -> relative weight (measured CPU seconds of the demo's steps, rounded).
    WEIGHTS = {"convert": 40, "train multilabel": 155, "evaluate multilabel": 13,
               "train caption": 210, "evaluate caption": 24, "report": 5}

    def __init__(self):
        self.started = time.monotonic()
        self.done = 0.0
        self.cpu_seconds: dict[str, float] = {}
        self.wall_seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def line(self, key: str) -> str:
        """'[demo step k of n: KEY | elapsed .., ETA ..]' as step `key` starts."""
        with self._lock:
            total = sum(self.WEIGHTS.values())
            elapsed = time.monotonic() - self.started
            fraction = self.done / total
            eta = f"ETA {_minutes(elapsed / fraction - elapsed)}" if fraction > 0.05 else "ETA after the first step"
            index = list(self.WEIGHTS).index(key) + 1
            return f"[demo step {index} of {len(self.WEIGHTS)}: {key} | elapsed {_minutes(elapsed)}, {eta}]"

    def finish(self, key: str, wall: float = 0.0, cpu: float = 0.0) -> None:
        with self._lock:
            self.done += self.WEIGHTS[key]
            if wall:
                self.wall_seconds[key], self.cpu_seconds[key] = round(wall, 1), round(cpu, 1)


def _minutes(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s"


PROGRESS = Progress()
_PRINT_LOCK = threading.Lock()


def _say(text: str, stream=None) -> None:
    with _PRINT_LOCK:
        print(text, file=stream or sys.stdout, flush=True)


def _copy_lines(source, stream, prefix: str) -> None:
    """Copies a child's output line by line, each line prefixed with its task when two run at once."""
    for line in source:
        _say(prefix + line.rstrip("\n"), stream)
    source.close()


def _run(step: str, command: list[str], key: str, prefix: str = "") -> None:
    """Runs one of the project's commands, its output going to the terminal as it comes.

    Wall seconds and this child's own CPU seconds (user + system, `os.wait4`'s rusage: exact
    even while another step runs) are recorded for timing.json.
    """
    _say(f"\n{PROGRESS.line(key)}\n=== {step}\n$ {' '.join(command)}")
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
    copiers = [threading.Thread(target=_copy_lines, args=(child.stdout, sys.stdout, prefix)),
               threading.Thread(target=_copy_lines, args=(child.stderr, sys.stderr, prefix))]
    for copier in copiers:
        copier.start()
    for copier in copiers:
        copier.join()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise errors.UserError(f"{step} failed (exit code {child.returncode}); see the output above.")
    wall, cpu = time.monotonic() - started, usage.ru_utime + usage.ru_stime
    PROGRESS.finish(key, wall, cpu)
    _say(f"=== {step}: done in {wall:.0f} s ({cpu:.0f} CPU s)")


def _newest_checkpoint_time(model_dir: str) -> float:
    files = glob.glob(os.path.join(model_dir, "*", "checkpoints", "*.index"))
    return max((os.path.getmtime(f) for f in files), default=0.0)


def convert(data_dir: str) -> None:
    """Step 1: the built-in dataset, converted (skipped when already there)."""
    if os.path.exists(os.path.join(data_dir, "manifest.json")):
        _say(f"=== data: reusing {data_dir}")
        PROGRESS.finish("convert")
        return
    _run("generate and convert the built-in dataset",
         [sys.executable, "-m", "data_prep.convert", "--dataset=synthetic", f"--output_dir={data_dir}",
          f"--seed={FLAGS.seed}", f"--synthetic_num_train={FLAGS.num_train}",
          f"--synthetic_num_val={FLAGS.num_val}", f"--synthetic_num_test={FLAGS.num_test}", "--overwrite"],
         "convert")


# MODEL_DIR/TRAINED_FILE: the training command and its flagfile's text, written when the training
# finished; a rerun with the same ones skips the step without starting TensorFlow (~6 CPU s a process).
TRAINED_FILE = "demo_trained.json"


def _training_record(command: list[str], flagfile: str) -> dict:
    with open(flagfile, encoding="utf-8") as handle:
        return {"command": command[1:], "flagfile": handle.read()}  # not the interpreter's path


def trained_earlier(model_dir: str, record: dict) -> bool:
    """Whether MODEL_DIR/TRAINED_FILE holds `record` and no checkpoint is newer than it (or missing)."""
    path = os.path.join(model_dir, TRAINED_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            same = json.load(handle) == record
    except (OSError, ValueError):
        return False
    newest = _newest_checkpoint_time(model_dir)
    return same and 0 < newest <= os.path.getmtime(path)


def train_and_evaluate(data_dir: str, task: str, flagfile: str, model_dir: str, prefix: str = "") -> dict:
    """Steps 2-3 for one task; returns the evaluation's metrics.json payload."""
    step = f"train the {task} model (three stages)"
    command = ([sys.executable, "-m", "s_cnn_rnn.train", f"--flagfile={flagfile}", f"--data_dir={data_dir}",
                f"--model_dir={model_dir}", "--stage=all", f"--seed={FLAGS.seed}"]
               + ([f"--train_steps={FLAGS.train_steps}"] if FLAGS.train_steps else []))
    record = _training_record(command, flagfile)
    if trained_earlier(model_dir, record):
        _say(f"{prefix}=== {step}: trained earlier with the same command and flagfile "
             f"({os.path.join(model_dir, TRAINED_FILE)})")
        PROGRESS.finish(f"train {task}")
    else:
        _run(step, command, f"train {task}", prefix)
        atomic_files.write_json(os.path.join(model_dir, TRAINED_FILE), record)
    eval_dir = os.path.join(model_dir, "eval_test")
    metrics_path = os.path.join(eval_dir, "metrics.json")
    if not os.path.exists(metrics_path) or os.path.getmtime(metrics_path) < _newest_checkpoint_time(model_dir):
        report_path = os.path.join(os.path.dirname(model_dir), f"report_{task}.html")
        _run(f"evaluate the {task} model on the test split",
             [sys.executable, "-m", "s_cnn_rnn.evaluate", f"--model_dir={model_dir}", f"--data_dir={data_dir}",
              "--split=test", f"--output_dir={eval_dir}", f"--report={report_path}"], f"evaluate {task}", prefix)
    else:
        PROGRESS.finish(f"evaluate {task}")
    with open(metrics_path, encoding="utf-8") as handle:
        return json.load(handle)


def headline_metrics(summary: dict, keys: tuple) -> dict:
    """The results.json entry: the decoded sequences' metrics (pooled convention for labels)."""
    metrics = tables_lib.headline_metrics(summary)
    return {key: metrics.get(key) for key in keys}


def write_index(output_dir: str, summaries: dict, tables: dict) -> str:
    """report.html: both tables, the training curves, links to each task's image report."""
    sections = []
    for task, summary in summaries.items():
        sections.append(
            f"<h2>{html.escape(summary['model_name'])}: {task} ({summary['num_images']} test images)</h2>"
            f"<pre>{html.escape(tables[task])}</pre>"
            f"<p><a href='report_{task}.html'>images with ground truth and predictions</a></p>"
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>S-CNN-RNN demo</title>"
        "<h1>S-CNN-RNN on the built-in synthetic dataset</h1>" + "".join(sections)
        + "<h2>Training curves</h2><img src='training_curves.png' style='max-width:100%'>"
    )
    path = os.path.join(output_dir, "report.html")
    atomic_files.write_text(path, page)
    return path


def main(argv) -> int:
    del argv
    started = time.monotonic()
    output_dir = os.path.abspath(FLAGS.output_dir)
    os.makedirs(output_dir, exist_ok=True)
    data_dir = os.path.join(output_dir, "data")
    flagfiles = flags_dir()
    convert(data_dir)
    summaries, tables, results, model_dirs = {}, {}, {}, {}
    # The two tasks train and evaluate at the same time: each process keeps about one core busy
    # (README, "Demo"), so on 2 cores this nearly halves their wall time; logs are prefixed.
    with futures.ThreadPoolExecutor(max_workers=len(TASKS) if FLAGS.parallel else 1) as pool:
        jobs = {task: pool.submit(train_and_evaluate, data_dir, task, os.path.join(flagfiles, flagfile),
                                  os.path.join(output_dir, model_name), f"[{task}] " if FLAGS.parallel else "")
                for task, flagfile, model_name, _, _ in TASKS}
    for task, _, model_name, key, metric_keys in TASKS:
        summary = jobs[task].result()
        summaries[task] = summary
        tables[task] = _table_text(summary)
        results[key] = headline_metrics(summary, metric_keys)
        model_dirs[f"{task} model"] = os.path.join(output_dir, model_name)
    print(f"\n{PROGRESS.line('report')}", flush=True)
    curves.plot_training_curves(model_dirs, os.path.join(output_dir, "training_curves.png"))
    PROGRESS.finish("report")
    atomic_files.write_json(os.path.join(output_dir, "results.json"), results, indent=2)
    # Where the time went: wall and CPU seconds (getrusage of the child processes) per step.
    timing = {"wall_seconds": round(time.monotonic() - started, 1), "steps_wall_seconds": PROGRESS.wall_seconds,
              "steps_cpu_seconds": PROGRESS.cpu_seconds, "cpu_seconds": round(sum(PROGRESS.cpu_seconds.values()), 1),
              "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    atomic_files.write_json(os.path.join(output_dir, "timing.json"), timing, indent=2)
    index = write_index(output_dir, summaries, tables)
    print("\n" + "\n\n".join(tables.values()))
    print(f"\nresults: {os.path.join(output_dir, 'results.json')}\nreport:  {index}\n"
          f"curves:  {os.path.join(output_dir, 'training_curves.png')}\n"
          f"demo finished in {time.monotonic() - started:.0f} s")
    return 0


def _table_text(summary: dict) -> str:
    """The evaluation's printed table, rebuilt from metrics.json (the subprocess printed it too)."""
    return tables_lib.table_from_summary(summary)


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-demo`)."""
    command_line.run(main, "s-cnn-rnn-demo")


if __name__ == "__main__":
    run()
