r"""The paper's ablations in miniature: S-CNN-RNN against NIC-F, NIC-deeply, CNN+logistic (+Tag1K).

Trains every variant on the built-in synthetic dataset with the project's own command lines
(`python -m s_cnn_rnn.train` with the demo flagfiles, `python -m s_cnn_rnn.evaluate`), with the
same image-step budget and the same seeds, and reports Table 2 (multi-label, x100) and Table 4
(captions) style tables as mean ± std [min, max] over seeds, `ablation_results.json`,
`ablation_curves.png` (validation losses and the task metric against image steps), and as the
last line one JSON object with the means.

Budgets. C, R, J are the flagfile's cnn/rnn/joint step counts times --step_scale. Every variant
gets C + J steps of stages that read images (batch size from the flagfile):
  S-CNN-RNN (+Tag1K)  cnn C, rnn R, joint J  (the rnn stage trains the decoder on ground-truth
                      concepts, reads no image and is cheap; it is Ours' extra, timed apart)
  NIC-deeply          cnn C, joint J
  NIC-F               joint C + J  (end to end from scratch, L_r only)
  CNN+logistic        cnn C + J
The seed changes initialisation and shuffling; the data (generator seed 0) is the same for all.

Curves. The loss curves are the `val_*` records of each stage's history.jsonl (every
`--validate_every` steps, mean over seeds). The metric curve evaluates the final stage's
checkpoints (3, evenly spaced) and, for S-CNN-RNN, the pretrained model before the joint stage,
on the val split (first --curve_max_images images), for the seeds in --curve_seeds: each point
is a `python -m s_cnn_rnn.evaluate` of a "view" model dir whose checkpoint file names that
checkpoint.

A rerun reuses finished work: training is skipped when `train_done.json` records the same
budget (the trainer itself resumes an unfinished stage), an evaluation when its metrics.json
exists.

Example:
  python bench/ablation.py --data_dir=/tmp/s_cnn_rnn_data --seeds=0,1,2 --step_scale=0.5
  python bench/ablation.py --quick   # a tiny smoke run (own tiny data, 1 seed, a few steps)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from bench import ablation_plot as report  # noqa: E402  (tables and figure; matplotlib imported lazily)
from s_cnn_rnn.training import history as history_lib  # noqa: E402  (no TensorFlow)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("multilabel", "caption")
# Ablation key -> (--variant, --use_tags). Which tasks each applies to is in VARIANTS_BY_TASK.
VARIANTS = {
    "s_cnn_rnn": ("s_cnn_rnn", False),
    "s_cnn_rnn_tag1k": ("s_cnn_rnn", True),
    "nic_deeply": ("nic_deeply", False),
    "nic_f": ("nic_f", False),
    "cnn_logistic": ("cnn_logistic", False),
}
# Table 2 has CNN+logistic and Ours+Tag1K; Table 4 has NIC-F, NIC-deeply and Ours only
# (CNN+logistic writes no caption).
VARIANTS_BY_TASK = {
    "multilabel": ("s_cnn_rnn", "s_cnn_rnn_tag1k", "nic_deeply", "nic_f", "cnn_logistic"),
    "caption": ("s_cnn_rnn", "nic_deeply", "nic_f"),
}
# Which stages each --variant runs (as s_cnn_rnn/training/stages.py; checked in the test).
STAGES_OF = {"s_cnn_rnn": ("cnn", "rnn", "joint"), "nic_f": ("joint",), "nic_deeply": ("cnn", "joint"),
             "cnn_logistic": ("cnn",)}
FLAGFILES = {"multilabel": "flags/demo_multilabel.flags", "caption": "flags/demo_caption.flags"}
VALIDATIONS_PER_RUN = 10  # validation records over a run's image steps
# --quick: a few steps of a tiny model on a tiny dataset (the smoke test's configuration).
QUICK_STEPS = {"cnn": 4, "rnn": 4, "joint": 2}
QUICK_TRAIN_FLAGS = ("--small_cnn_width=8", "--embedding_dim=16", "--lstm_units=16", "--image_size=32",
                     "--batch_size=8", "--validation_steps=1", "--log_every=1")
QUICK_DATA_FLAGS = ("--synthetic_num_train=48", "--synthetic_num_val=8", "--synthetic_num_test=8",
                    "--synthetic_image_size=32", "--num_concepts=40", "--num_workers=0")
QUICK_EVAL_IMAGES = 8

_OUTPUT_DIR = flags.DEFINE_string("output_dir", os.path.join(tempfile.gettempdir(), "s_cnn_rnn_ablation"),
                                  "Runs, results, tables and the figure go here.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Converted synthetic data to reuse (default: convert "
                                "into OUTPUT_DIR/data, or reuse it from an earlier run).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds.")
_TASKS = flags.DEFINE_list("tasks", list(TASKS), "multilabel and/or caption.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Variants (each runs for the tasks it applies to).")
_STEP_SCALE = flags.DEFINE_float("step_scale", 1.0, "Multiplies the flagfiles' cnn/rnn/joint step counts.")
_CURVE_SEEDS = flags.DEFINE_list("curve_seeds", None, "Seeds whose checkpoints get the metric curve "
                                 "(default: all; empty string: none).")
_CURVE_MAX_IMAGES = flags.DEFINE_integer("curve_max_images", 100, "Val images per metric-curve point.")
_TEST_MAX_IMAGES = flags.DEFINE_integer("test_max_images", None, "Test images per final evaluation (all).")
_TRAIN_FLAGS = flags.DEFINE_multi_string("train_flag", [], "Extra flag for every training command.")
_QUICK = flags.DEFINE_bool("quick", False, "Tiny smoke run: tiny data and model, a few steps, seed 0.")


class RunError(RuntimeError):
    """A training, evaluation or conversion command failed."""


# ----------------------------------------------------------------------------- budgets


def read_flagfile(path: str) -> dict:
    """`--name=value` lines of an absl flagfile -> {name: value} ('#' lines are comments)."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("--") and "=" in line:
                name, value = line[2:].split("=", 1)
                values[name] = value
    return values


def scaled_steps(flagfile: str, scale: float) -> dict:
    """{"cnn": C, "rnn": R, "joint": J}: the flagfile's stage steps times `scale` (each >= 1)."""
    values = read_flagfile(flagfile)
    if "train_steps" in values:
        raise ValueError(f"{flagfile} sets --train_steps; the ablation needs per-stage --<stage>_train_steps")
    try:
        return {stage: max(1, round(int(values[f"{stage}_train_steps"]) * scale)) for stage in ("cnn", "rnn", "joint")}
    except KeyError as error:
        raise ValueError(f"{flagfile} has no --{error.args[0]}: it must set every stage's step count") from error


def variant_budget(variant: str, steps: dict) -> dict:
    """{stage: steps} of a --variant so that its image-reading stages total C + J (module docstring)."""
    variant_stages = STAGES_OF[variant]
    image_stages = [stage for stage in variant_stages if stage != "rnn"]
    budget = {"rnn": steps["rnn"]} if "rnn" in variant_stages else {}
    if image_stages == ["cnn", "joint"]:
        budget.update(cnn=steps["cnn"], joint=steps["joint"])
    else:
        budget[image_stages[0]] = steps["cnn"] + steps["joint"]
    return {stage: budget[stage] for stage in variant_stages}


def image_offsets(budget: dict) -> dict:
    """{stage: image steps before it}: the x-axis origin of each stage (the rnn stage reads none)."""
    offsets, done = {}, 0
    for stage, steps in budget.items():
        offsets[stage] = done
        done += 0 if stage == "rnn" else steps
    return offsets


def schedule_flags(budget: dict) -> list:
    """Validation about VALIDATIONS_PER_RUN times per run; exactly 3 checkpoints in the final stage."""
    image_steps = sum(steps for stage, steps in budget.items() if stage != "rnn")
    final_steps = list(budget.values())[-1]
    validate_every = max(1, round(image_steps / VALIDATIONS_PER_RUN))
    checkpoint_every = max(1, -(-final_steps // 3))  # ceil: saves at e, 2e and the last step
    return [f"--validate_every={validate_every}", f"--checkpoint_every={checkpoint_every}"]


# ----------------------------------------------------------------------------- commands


def run_logged(command: list, log_path: str) -> float:
    """Runs `command` from the project root, output to `log_path`; returns wall seconds."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        code = subprocess.call(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment)
    if code != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = "".join(log.readlines()[-15:])
        raise RunError(f"command failed (exit {code}), log {log_path}:\n{' '.join(command)}\n{tail}")
    return time.monotonic() - started


def write_json(path: str, payload) -> None:
    """Writes JSON to a temp file beside `path`, then renames it into place."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)


def read_json(path: str):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def ensure_data(output_dir: str, data_dir: str | None, quick: bool) -> str:
    """The converted data: --data_dir, or OUTPUT_DIR/data (converted once, then reused)."""
    if data_dir:
        if not os.path.exists(os.path.join(data_dir, "manifest.json")):
            raise RunError(f"--data_dir={data_dir} has no manifest.json: convert it with "
                           "`python -m data_prep.convert --dataset=synthetic --output_dir=DIR` first")
        return os.path.abspath(data_dir)
    data_dir = os.path.join(output_dir, "data")
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        command = [sys.executable, "-m", "data_prep.convert", "--dataset=synthetic", f"--output_dir={data_dir}",
                   "--overwrite", "--noprogress", *(QUICK_DATA_FLAGS if quick else ())]
        seconds = run_logged(command, os.path.join(output_dir, "logs", "convert.log"))
        print(f"converted the synthetic dataset into {data_dir} in {seconds:.0f} s", flush=True)
    return data_dir


def checkpoints_of(stage_dir: str) -> list:
    """[(step, absolute checkpoint prefix)] listed in a stage's `checkpoints/checkpoint` file."""
    state = os.path.join(stage_dir, "checkpoints", "checkpoint")
    if not os.path.exists(state):
        return []
    found = []
    with open(state, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("all_model_checkpoint_paths:"):
                path = line.split(":", 1)[1].strip().strip('"')
                path = path if os.path.isabs(path) else os.path.join(stage_dir, "checkpoints", path)
                found.append((int(path.rsplit("-", 1)[1]), path))
    return sorted(found)


def make_view(model_dir: str, view_dir: str, checkpoints: dict) -> None:
    """A model dir whose `<stage>/checkpoints/checkpoint` names the given checkpoints (so that
    `s_cnn_rnn.evaluate`, which restores the newest one, restores these)."""
    os.makedirs(view_dir, exist_ok=True)
    shutil.copyfile(os.path.join(model_dir, "model_config.json"), os.path.join(view_dir, "model_config.json"))
    if not os.path.exists(os.path.join(view_dir, "vocab")):
        os.symlink(os.path.join(model_dir, "vocab"), os.path.join(view_dir, "vocab"))
    for stage, path in checkpoints.items():
        directory = os.path.join(view_dir, stage, "checkpoints")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "checkpoint"), "w", encoding="utf-8") as handle:
            handle.write(f'model_checkpoint_path: "{path}"\nall_model_checkpoint_paths: "{path}"\n')


# ----------------------------------------------------------------------------- one run


class Run:
    """One (task, variant, seed): its directories, budget and commands."""

    def __init__(self, output_dir: str, data_dir: str, task: str, key: str, seed: int, steps: dict,
                 train_flags: list):
        self.task, self.key, self.seed, self.data_dir = task, key, seed, data_dir
        self.variant, self.use_tags = VARIANTS[key]
        self.budget = variant_budget(self.variant, steps)
        self.offsets = image_offsets(self.budget)
        self.directory = os.path.join(output_dir, "runs", task, key, f"seed{seed}")
        self.model_dir = os.path.join(self.directory, "model")
        self.train_flags = train_flags

    def train_command(self) -> list:
        return [sys.executable, "-m", "s_cnn_rnn.train", f"--flagfile={FLAGFILES[self.task]}",
                f"--data_dir={self.data_dir}", f"--model_dir={self.model_dir}", "--stage=all",
                f"--variant={self.variant}", f"--seed={self.seed}", f"--{'' if self.use_tags else 'no'}use_tags",
                *(f"--{stage}_train_steps={steps}" for stage, steps in self.budget.items()),
                *schedule_flags(self.budget), *self.train_flags]

    def train(self) -> float:
        """Trains (or reuses) the model; returns the training wall seconds."""
        done_path = os.path.join(self.directory, "train_done.json")
        command = self.train_command()
        if os.path.exists(done_path):
            done = read_json(done_path)
            if done["budget"] == self.budget:
                return done["seconds"]
            raise RunError(f"{done_path} was trained with budget {done['budget']}, not {self.budget}: "
                           "use another --output_dir (or delete that run) to train with the new one")
        seconds = run_logged(command, os.path.join(self.directory, "train.log"))
        write_json(done_path, {"budget": self.budget, "seconds": seconds, "command": command})
        return seconds

    def evaluate(self, model_dir: str, split: str, output_dir: str, max_images: int | None) -> dict:
        """`s_cnn_rnn.evaluate` of `model_dir` (skipped when its metrics.json exists)."""
        metrics_path = os.path.join(output_dir, "metrics.json")
        if not os.path.exists(metrics_path):
            command = [sys.executable, "-m", "s_cnn_rnn.evaluate", f"--model_dir={model_dir}",
                       f"--data_dir={self.data_dir}", f"--split={split}", f"--output_dir={output_dir}",
                       "--noprogress", *([f"--max_images={max_images}"] if max_images else [])]
            run_logged(command, os.path.join(output_dir, "evaluate.log"))
        return read_json(metrics_path)

    def curve_points(self) -> list:
        """[(image step, {stage: checkpoint})] evaluated for the metric curve."""
        final_stage = list(self.budget)[-1]
        points = [(self.offsets[final_stage] + step, {final_stage: path})
                  for step, path in checkpoints_of(os.path.join(self.model_dir, final_stage))]
        if final_stage == "joint" and "rnn" in self.budget:  # the pretrained model before fine-tuning
            pretrained = {stage: checkpoints_of(os.path.join(self.model_dir, stage))[-1][1] for stage in ("cnn", "rnn")}
            points.insert(0, (self.offsets["joint"], pretrained))
        return points

    def metric_curve(self, max_images: int) -> list:
        """[{"image_step", "metrics"}] on the val split, one per curve point."""
        curve = []
        for image_step, checkpoints in self.curve_points():
            point_dir = os.path.join(self.directory, "curve", f"step{image_step:06d}")
            if not os.path.exists(os.path.join(point_dir, "metrics.json")):
                make_view(self.model_dir, os.path.join(point_dir, "view"), checkpoints)
            summary = self.evaluate(os.path.join(point_dir, "view"), "val", point_dir, max_images)
            curve.append({"image_step": image_step, "metrics": summary["metrics"]})
        return curve

    def loss_curve(self) -> list:
        """The val_* records of the image-reading stages, x = image steps."""
        records = []
        for stage, offset in self.offsets.items():
            if stage == "rnn":
                continue
            for record in history_lib.read_history(os.path.join(self.model_dir, stage, "history.jsonl")):
                values = {k: v for k, v in record.items() if k.startswith("val_") and v is not None}
                if values:
                    records.append({"image_step": offset + record["step"], "stage": stage, **values})
        return records


# ----------------------------------------------------------------------------- main


def _plan(quick: bool) -> tuple:
    tasks = [task for task in _TASKS.value if task]
    for task in tasks:
        if task not in TASKS:
            raise app.UsageError(f"--tasks: unknown task {task!r} (choose from {', '.join(TASKS)})")
    unknown = sorted(set(_VARIANTS.value) - set(VARIANTS))
    if unknown:
        raise app.UsageError(f"--variants: unknown {unknown} (choose from {', '.join(VARIANTS)})")
    seeds = [int(seed) for seed in (_SEEDS.value if not (quick and flags.FLAGS["seeds"].using_default_value) else ["0"])]
    curve_seeds = seeds if _CURVE_SEEDS.value is None else [int(seed) for seed in _CURVE_SEEDS.value if seed]
    return tasks, seeds, curve_seeds


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    started = time.monotonic()
    quick = _QUICK.value
    tasks, seeds, curve_seeds = _plan(quick)
    output_dir = os.path.abspath(_OUTPUT_DIR.value)
    data_dir = ensure_data(output_dir, _DATA_DIR.value, quick)
    train_flags = [*(QUICK_TRAIN_FLAGS if quick else ()), *_TRAIN_FLAGS.value]
    curve_images = QUICK_EVAL_IMAGES if quick else _CURVE_MAX_IMAGES.value
    test_images = QUICK_EVAL_IMAGES if quick else _TEST_MAX_IMAGES.value
    config = {"seeds": seeds, "curve_seeds": curve_seeds, "step_scale": _STEP_SCALE.value, "quick": quick,
              "data_dir": data_dir, "curve_max_images": curve_images, "test_max_images": test_images,
              "train_flags": train_flags, "steps": {}, "flagfiles": {}}
    runs = []
    for task in tasks:
        steps = (dict(QUICK_STEPS) if quick
                 else scaled_steps(os.path.join(PROJECT_ROOT, FLAGFILES[task]), _STEP_SCALE.value))
        config["steps"][task], config["flagfiles"][task] = steps, FLAGFILES[task]
        keys = [key for key in _VARIANTS.value if key in VARIANTS_BY_TASK[task]]
        print(f"{task}: variants {', '.join(keys)}; steps C={steps['cnn']} R={steps['rnn']} J={steps['joint']} "
              f"(image steps per run {steps['cnn'] + steps['joint']}); seeds {seeds}", flush=True)
        for seed in seeds:  # seed-major: a partial ablation has every variant of the first seeds
            for key in keys:
                run = Run(output_dir, data_dir, task, key, seed, steps, train_flags)
                tick = time.monotonic()
                train_seconds = run.train()
                test = run.evaluate(run.model_dir, "test", os.path.join(run.directory, "eval_test"), test_images)
                curve = run.metric_curve(curve_images) if seed in curve_seeds else []
                runs.append({"task": task, "variant": key, "seed": seed, "budget": run.budget,
                             "train_seconds": round(train_seconds, 1), "test_metrics": test["metrics"],
                             "num_test_images": test["num_images"], "loss_curve": run.loss_curve(),
                             "metric_curve": curve, "run_dir": run.directory})
                print(f"  {task} {key} seed {seed}: {report.headline(task, key, test['metrics'])} "
                      f"(train {train_seconds:.0f} s, this run {time.monotonic() - tick:.0f} s, "
                      f"total {time.monotonic() - started:.0f} s)", flush=True)
    summary = report.summarise(runs)
    tables = report.tables(summary, config)
    results = {"config": config, "summary": summary, "runs": runs,
               "wall_seconds": round(time.monotonic() - started, 1)}
    write_json(os.path.join(output_dir, "ablation_results.json"), results)
    with open(os.path.join(output_dir, "ablation_tables.txt"), "w", encoding="utf-8") as handle:
        handle.write(tables + "\n")
    figure = report.plot_curves(runs, os.path.join(output_dir, "ablation_curves.png"))
    print(tables)
    print(f"wrote {os.path.join(output_dir, 'ablation_results.json')}, {figure}", flush=True)
    print(json.dumps(report.means_line(summary, results["wall_seconds"]), sort_keys=True))
    return 0


if __name__ == "__main__":
    app.run(main)
