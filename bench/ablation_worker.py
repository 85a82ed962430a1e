r"""One run of the ablation (task, variant, seed), in ONE process: train, then evaluate.

`bench/ablation.py` starts one worker per run:

  python bench/ablation_worker.py --ablation_spec=RUN_DIR/spec.json \
      --flagfile=flags/demo_multilabel.flags --data_dir=D --model_dir=RUN_DIR/model --stage=all \
      --variant=s_cnn_rnn --seed=0 --cnn_train_steps=... (every other flag: `s-cnn-rnn-train`'s)

The worker parses the training CLI's own flags and calls its `main` (`s_cnn_rnn/train.py`), then
scores the test split and the metric-curve checkpoints with `s_cnn_rnn.evaluation.runner`
(what `s-cnn-rnn-evaluate` calls; the same metrics.json). One process instead of one per command
saves a TensorFlow start-up per evaluation, which on the shared 2-core machine costs 20-30 s.
It writes RUN_DIR/run_result.json, the run's record for the tables and the figure.

The rest of this module (budgets, checkpoint "views", curve points) is plain Python without
TensorFlow or flags, shared with `bench/ablation.py`.
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._bench_util import parse_train_flagfile  # noqa: E402  (TensorFlow only when called)
from s_cnn_rnn.models import variants  # noqa: E402  (the variant records; no TensorFlow)
from s_cnn_rnn.training import history as history_lib  # noqa: E402  (no TensorFlow)

# Ablation key -> (--variant, --use_tags).
VARIANTS = {
    "s_cnn_rnn": ("s_cnn_rnn", False),
    "s_cnn_rnn_tag1k": ("s_cnn_rnn", True),
    "nic_deeply": ("nic_deeply", False),
    "nic_f": ("nic_f", False),
    "cnn_logistic": ("cnn_logistic", False),
}
# Every key runs for multi-label; for captions only the models with a decoder (CNN+logistic
# writes no caption), without tags (the paper's tags are multi-label side information).
VARIANTS_BY_TASK = {
    "multilabel": tuple(VARIANTS),
    "caption": tuple(key for key, (variant, use_tags) in VARIANTS.items()
                     if variants.get(variant).has_decoder and not use_tags),
}
# The stages each --variant runs without tags (its record; `variant_budget` adds the tags stage).
STAGES_OF = {name: variants.stages_to_run(name, use_tags=False) for name, _ in VARIANTS.values()}
# Stages that pretrain one part (the tag MLP, the decoder) outside the image-step budget C + J; the
# decoder stage (NIC-F, NIC-deeply) reads images but is the feature variants' stage 2, so it gets R.
PRETRAINING = ("tags", "rnn", "decoder")
# The step counts a flagfile must give (tags and decoder default to R).
REQUIRED_STEPS = ("cnn", "rnn", "joint")
FLAGFILES = {"multilabel": "flags/demo_multilabel.flags", "caption": "flags/demo_caption.flags"}
STAGE_ORDER = variants.STAGE_ORDER
VALIDATIONS_PER_RUN = 10  # validation records over a run's image steps
RESULT_FILE = "run_result.json"
DONE_FILE = "train_done.json"


# ----------------------------------------------------------------------------- budgets


def scaled_steps(flagfile: str, scale: float) -> dict:
    """{stage: steps} ("cnn": C, "rnn": R, "joint": J, ...): the flagfile's stage steps times `scale`
    (each >= 1).

    The flagfile is parsed by absl with the training flags (nested flagfiles included).
    """
    values = parse_train_flagfile(flagfile)
    if values["train_steps"].present:
        raise ValueError(f"{flagfile} sets --train_steps; the ablation needs per-stage --<stage>_train_steps")
    missing = [f"--{stage}_train_steps" for stage in REQUIRED_STEPS if not values[f"{stage}_train_steps"].present]
    if missing:
        raise ValueError(f"{flagfile} has no {', '.join(missing)}: the ablation scales each stage's step count")
    return {stage: max(1, round(values[f"{stage}_train_steps"].value * scale)) for stage in STAGE_ORDER
            if stage in REQUIRED_STEPS or values[f"{stage}_train_steps"].present}


def variant_budget(variant: str, steps: dict, use_tags: bool = False) -> dict:
    """{stage: steps} of a --variant, in stage order; its image-reading stages total C + J:
    cnn C and joint J when it has both, else its one image stage gets C + J; the decoder's
    pretraining (rnn, decoder) gets R, the tags stage its own count (else R)."""
    variant_stages = variants.stages_to_run(variant, use_tags)
    image_stages = [stage for stage in variant_stages if stage not in PRETRAINING]
    budget = {stage: steps.get(stage, steps["rnn"]) for stage in PRETRAINING if stage in variant_stages}
    if image_stages == ["cnn", "joint"]:
        budget.update(cnn=steps["cnn"], joint=steps["joint"])
    else:
        budget[image_stages[0]] = steps["cnn"] + steps["joint"]
    return {stage: budget[stage] for stage in variant_stages}


def ordered_stages(budget: dict) -> list:
    """The budget's stages in training order (a budget read back from sorted JSON lost it)."""
    return [stage for stage in STAGE_ORDER if stage in budget]


def image_offsets(budget: dict) -> dict:
    """{stage: image steps before it}: where each stage starts on the x-axis (rnn reads no image)."""
    offsets, done = {}, 0
    for stage in ordered_stages(budget):
        steps = budget[stage]
        offsets[stage] = done
        done += 0 if stage in PRETRAINING else steps
    return offsets


def schedule_flags(budget: dict) -> list:
    """About VALIDATIONS_PER_RUN validations per run, and exactly 3 checkpoints in the final stage
    (at e, 2e and its last step, e = ceil(steps / 3); the trainer keeps the newest 3)."""
    image_steps = sum(steps for stage, steps in budget.items() if stage not in PRETRAINING)
    final_steps = budget[ordered_stages(budget)[-1]]
    validate_every = max(1, round(image_steps / VALIDATIONS_PER_RUN))
    checkpoint_every = max(1, -(-final_steps // 3))
    return [f"--validate_every={validate_every}", f"--checkpoint_every={checkpoint_every}"]


def train_flags(flagfile: str, key: str, seed: int, budget: dict, data_dir: str, model_dir: str) -> list:
    """The `s-cnn-rnn-train` flags of one run (the flagfile first, so the rest override it)."""
    variant, use_tags = VARIANTS[key]
    return [f"--flagfile={flagfile}", f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--stage=all",
            f"--variant={variant}", f"--seed={seed}", f"--{'' if use_tags else 'no'}use_tags",
            *(f"--{stage}_train_steps={budget[stage]}" for stage in ordered_stages(budget)), *schedule_flags(budget)]


# ----------------------------------------------------------------------------- files


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


def checkpoints_of(stage_dir: str) -> list:
    """[(step, absolute checkpoint prefix)] in a stage's `checkpoints/checkpoint` state file."""
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
    """A model dir whose `<stage>/checkpoints/checkpoint` names the given checkpoints, so that the
    evaluation (which restores each stage's newest checkpoint) restores exactly these."""
    os.makedirs(view_dir, exist_ok=True)
    shutil.copyfile(os.path.join(model_dir, "model_config.json"), os.path.join(view_dir, "model_config.json"))
    if not os.path.lexists(os.path.join(view_dir, "vocab")):
        os.symlink(os.path.join(model_dir, "vocab"), os.path.join(view_dir, "vocab"))
    for stage, path in checkpoints.items():
        directory = os.path.join(view_dir, stage, "checkpoints")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "checkpoint"), "w", encoding="utf-8") as handle:
            handle.write(f'model_checkpoint_path: "{path}"\nall_model_checkpoint_paths: "{path}"\n')


def curve_points(model_dir: str, budget: dict, max_points: int) -> list:
    """[(image step, {stage: checkpoint})] for the metric curve: the final stage's checkpoints and,
    for a pretrained decoder (cnn + rnn stages before joint), the model before fine-tuning; at most
    `max_points`, evenly spread, always ending with the final checkpoint."""
    offsets = image_offsets(budget)
    final_stage = ordered_stages(budget)[-1]
    points = [(offsets[final_stage] + step, {final_stage: path})
              for step, path in checkpoints_of(os.path.join(model_dir, final_stage))]
    if final_stage == "joint" and "rnn" in budget:
        pretrained = {stage: checkpoints_of(os.path.join(model_dir, stage))[-1][1] for stage in ("cnn", "rnn")}
        points.insert(0, (offsets["joint"], pretrained))
    if len(points) > max_points:
        last = len(points) - 1
        chosen = [round(i * last / (max_points - 1)) for i in range(max_points)] if max_points > 1 else [last]
        points = [points[i] for i in chosen]
    return points


def loss_curve(model_dir: str, budget: dict) -> list:
    """The val_* records of the image-reading stages' history.jsonl, x = image steps."""
    records = []
    for stage, offset in image_offsets(budget).items():
        if stage in PRETRAINING:
            continue
        for record in history_lib.read_history(os.path.join(model_dir, stage, "history.jsonl")):
            values = {k: v for k, v in record.items() if k.startswith("val_") and v is not None}
            if values:
                records.append({"image_step": offset + record["step"], "stage": stage, **values})
    return records


# ----------------------------------------------------------------------------- the worker


def _evaluate(runner, model_dir: str, data_dir: str, split: str, output_dir: str, max_images) -> dict:
    """metrics.json of `model_dir` on `split` (reused when it exists)."""
    path = os.path.join(runner.results_dir(output_dir, max_images), runner.METRICS_FILE)
    if not os.path.exists(path):
        result = runner.evaluate(model_dir, data_dir, split=split, max_images=max_images, show_progress=False)
        runner.write_outputs(result, output_dir)
        print(result.table, flush=True)
    return read_json(path)


def worker_main(argv, train_cli, runner) -> int:
    """Trains (unless train_done.json records this budget), evaluates, writes run_result.json."""
    from absl import flags  # pylint: disable=import-outside-toplevel

    spec = read_json(flags.FLAGS.ablation_spec)
    run_dir, model_dir, data_dir = spec["run_dir"], flags.FLAGS.model_dir, flags.FLAGS.data_dir
    done_path = os.path.join(run_dir, DONE_FILE)
    if os.path.exists(done_path):
        done = read_json(done_path)
        if done["budget"] != spec["budget"]:
            print(f"error: {done_path} was trained with budget {done['budget']}, not {spec['budget']}: use "
                  "another --output_dir (or delete that run) to train with the new one", file=sys.stderr)
            return 2
        train_seconds = done["seconds"]
    else:
        started = time.monotonic()
        code = train_cli.main(argv[:1])
        if code:
            return code
        train_seconds = time.monotonic() - started
        write_json(done_path, {"budget": spec["budget"], "seconds": train_seconds, "argv": sys.argv})
    started = time.monotonic()
    test = _evaluate(runner, model_dir, data_dir, "test", os.path.join(run_dir, "eval_test"), spec["test_max_images"])
    metric_curve = []
    if spec["curve"]:
        for image_step, checkpoints in curve_points(model_dir, spec["budget"], spec["curve_points"]):
            point_dir = os.path.join(run_dir, "curve", f"step{image_step:06d}")
            make_view(model_dir, os.path.join(point_dir, "view"), checkpoints)
            summary = _evaluate(runner, os.path.join(point_dir, "view"), data_dir, "val", point_dir,
                                spec["curve_max_images"])
            metric_curve.append({"image_step": image_step, "metrics": summary["metrics"]})
    record = {key: spec[key] for key in ("task", "variant", "seed", "budget", "run_dir")}
    record.update(train_seconds=round(train_seconds, 1), eval_seconds=round(time.monotonic() - started, 1),
                  test_metrics=test["metrics"], num_test_images=test["num_images"],
                  loss_curve=loss_curve(model_dir, spec["budget"]), metric_curve=metric_curve)
    write_json(os.path.join(run_dir, RESULT_FILE), record)
    return 0


def run_worker() -> None:
    """Entry point: the training CLI's flags plus --ablation_spec."""
    from absl import flags  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import command_line  # pylint: disable=import-outside-toplevel

    command_line.quiet_startup("__main__")  # before TensorFlow is imported
    from s_cnn_rnn import train as train_cli  # pylint: disable=import-outside-toplevel  (defines its flags)
    from s_cnn_rnn.evaluation import runner  # pylint: disable=import-outside-toplevel

    flags.DEFINE_string("ablation_spec", None, "The run's spec.json written by bench/ablation.py.")
    flags.mark_flags_as_required(["ablation_spec", "data_dir", "model_dir"])
    # The training CLI's flag parsing (flagfiles relative to their includer) and one-line errors.
    command_line.run(lambda argv: worker_main(argv, train_cli, runner), "ablation_worker")


if __name__ == "__main__":
    run_worker()
