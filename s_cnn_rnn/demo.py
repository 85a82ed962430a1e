r"""`s-cnn-rnn-demo`: the whole job on the built-in dataset, in CPU minutes.

  s-cnn-rnn-demo --output_dir=s_cnn_rnn_demo

1. generates the built-in synthetic dataset and converts it (`s-cnn-rnn-convert`);
2. trains the three stages of a multi-label and a captioning S-CNN-RNN (`s-cnn-rnn-train`
   with flags/demo_multilabel.flags and flags/demo_caption.flags);
3. evaluates both on the test split (`s-cnn-rnn-evaluate`), prints both tables;
4. writes results.json, report.html (+ one report page per task) and training_curves.png.

Each step runs the project's own command line in a subprocess, so its progress shows as it
would for a user; a rerun skips what is already done (conversion, finished stages, and an
evaluation newer than the model's checkpoints).
"""

import glob
import html
import json
import os
import subprocess
import sys
import time

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import flags  # noqa: E402

from s_cnn_rnn import atomic_files  # noqa: E402
from s_cnn_rnn import errors  # noqa: E402
from s_cnn_rnn import tasks  # noqa: E402
from s_cnn_rnn.evaluation import curves  # noqa: E402

FLAGS = flags.FLAGS

command_line.define_path("output_dir", "s_cnn_rnn_demo", "Where data, models, reports and results.json go.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic dataset and of training.")
flags.DEFINE_integer("num_train", 3000, "Synthetic training images.")
flags.DEFINE_integer("num_val", 500, "Synthetic validation images.")
flags.DEFINE_integer("num_test", 500, "Synthetic test images.")
flags.DEFINE_integer("train_steps", None, "If set, every stage's total steps (a quick look; default: the flagfiles').")
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


def _run(step: str, command: list[str]) -> None:
    """Runs one of the project's commands, its output going straight to the terminal."""
    print(f"\n=== {step}\n$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise errors.UserError(f"{step} failed (exit code {completed.returncode}); see the output above.")
    print(f"=== {step}: done in {time.monotonic() - started:.0f} s", flush=True)


def _newest_checkpoint_time(model_dir: str) -> float:
    files = glob.glob(os.path.join(model_dir, "*", "checkpoints", "*.index"))
    return max((os.path.getmtime(f) for f in files), default=0.0)


def convert(data_dir: str) -> None:
    """Step 1: the built-in dataset, converted (skipped when already there)."""
    if os.path.exists(os.path.join(data_dir, "manifest.json")):
        print(f"=== data: reusing {data_dir}")
        return
    _run("generate and convert the built-in dataset",
         [sys.executable, "-m", "data_prep.convert", "--dataset=synthetic", f"--output_dir={data_dir}",
          f"--seed={FLAGS.seed}", f"--synthetic_num_train={FLAGS.num_train}",
          f"--synthetic_num_val={FLAGS.num_val}", f"--synthetic_num_test={FLAGS.num_test}", "--overwrite"])


def train_and_evaluate(data_dir: str, task: str, flagfile: str, model_dir: str) -> dict:
    """Steps 2-3 for one task; returns the evaluation's metrics.json payload."""
    _run(f"train the {task} model (three stages)",
         [sys.executable, "-m", "s_cnn_rnn.train", f"--flagfile={flagfile}", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--stage=all", f"--seed={FLAGS.seed}"]
         + ([f"--train_steps={FLAGS.train_steps}"] if FLAGS.train_steps else []))
    eval_dir = os.path.join(model_dir, "eval_test")
    metrics_path = os.path.join(eval_dir, "metrics.json")
    if not os.path.exists(metrics_path) or os.path.getmtime(metrics_path) < _newest_checkpoint_time(model_dir):
        report_path = os.path.join(os.path.dirname(model_dir), f"report_{task}.html")
        _run(f"evaluate the {task} model on the test split",
             [sys.executable, "-m", "s_cnn_rnn.evaluate", f"--model_dir={model_dir}", f"--data_dir={data_dir}",
              "--split=test", f"--output_dir={eval_dir}", f"--report={report_path}"])
    with open(metrics_path, encoding="utf-8") as handle:
        return json.load(handle)


def headline_metrics(task: str, summary: dict, keys: tuple) -> dict:
    """The results.json entry: the decoded sequences' metrics (pooled convention for labels)."""
    metrics = tasks.get(task).headline_metrics(summary)
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
    for task, flagfile, model_name, key, metric_keys in TASKS:
        model_dir = os.path.join(output_dir, model_name)
        summary = train_and_evaluate(data_dir, task, os.path.join(flagfiles, flagfile), model_dir)
        summaries[task] = summary
        tables[task] = _table_text(summary)
        results[key] = headline_metrics(task, summary, metric_keys)
        model_dirs[f"{task} model"] = model_dir
    curves.plot_training_curves(model_dirs, os.path.join(output_dir, "training_curves.png"))
    atomic_files.write_json(os.path.join(output_dir, "results.json"), results, indent=2)
    index = write_index(output_dir, summaries, tables)
    print("\n" + "\n\n".join(tables.values()))
    print(f"\nresults: {os.path.join(output_dir, 'results.json')}\nreport:  {index}\n"
          f"curves:  {os.path.join(output_dir, 'training_curves.png')}\n"
          f"demo finished in {time.monotonic() - started:.0f} s")
    return 0


def _table_text(summary: dict) -> str:
    """The evaluation's printed table, rebuilt from metrics.json (the subprocess printed it too)."""
    return tasks.get(summary["task"]).table_from_summary(summary)


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-demo`)."""
    command_line.run(main, "s-cnn-rnn-demo")


if __name__ == "__main__":
    run()
