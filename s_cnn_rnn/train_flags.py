"""The flags of `s-cnn-rnn-train`, derived from the training dataclasses, and the way back.

`define(flag_values)` defines every flag in `flag_values` and returns a `TrainFlags` whose
`options()` reads them into `stage_runner.TrainOptions`. Each flag is a dataclass field (its
comment is the help, see `option_flags.py`):

| flags | dataclass field |
|---|---|
| --stage --data_dir --model_dir --task --augment --max_caption_length --val_split --distribution --mixed_precision --deterministic --seed --retrain | `stage_runner.TrainOptions` |
| --variant --backbone --backbone_weights --image_size --embedding_dim --lstm_units --lstm_activation --use_tags --freeze_cnn --dropout --small_cnn_width | `ModelConfig` |
| --<stage>_train_steps --<stage>_learning_rate --<stage>_optimizer --cnn_head_steps | `trainer.StageSettings`, one per stage |
| --batch_size --gradient_clip_norm --log_every --checkpoint_every --validate_every --validation_steps --jit_compile (and any new StageSettings field) | `trainer.StageSettings`, shared by the stages |

plus `--train_steps` (overrides every stage's steps), `--step_scale` and `--learning_rate_scale` (multiply every
stage's steps and intervals, and its learning rate: what `s-cnn-rnn-reproduce` passes). A flag that neither the command line nor
its flagfiles set takes the paper's value for the data dir's dataset (`PAPER_FLAGFILES`: the "Ours"
row's flagfile of COCO captions, COCO multi-label or NUS-WIDE), so that `s-cnn-rnn-train
--data_dir=D --model_dir=M` trains the paper's model, not a third configuration; the synthetic
dataset has no paper settings and keeps the flags' own defaults. Defining nothing at import, this
module also serves `bench/` (a throw-away FlagValues that parses a flagfile with absl itself).
"""

import contextlib
import dataclasses
import math
import os
import sys

from absl import flags
from absl import logging

from s_cnn_rnn import command_line
from s_cnn_rnn import data_dir as data_dir_lib

from s_cnn_rnn import option_flags
from s_cnn_rnn.models import config as config_lib
from s_cnn_rnn.training import stage_runner
from s_cnn_rnn.training import stages
from s_cnn_rnn.training import trainer

# The flags belong to the module that calls `define` (the command's --help section).
flags.disclaim_key_flags()

# Defaults of --<stage>_train_steps (the paper's schedules set their own in flags/).
STAGE_DEFAULT_STEPS = {"tags": 10000, "cnn": 30000, "rnn": 100000, "decoder": 100000, "joint": 50000}
# StageSettings fields with one flag per stage; --cnn_head_steps exists for the cnn stage only.
PER_STAGE_FIELDS = ("train_steps", "learning_rate", "optimizer")
# ModelConfig fields that come from the data or stay at their defaults (no flag).
MODEL_FIELDS_WITHOUT_FLAG = ("preprocessing", "num_concepts", "vocab_size", "num_tags", "tag_hidden_units")
# The converter's --dataset (the manifest's "dataset") -> the flagfile of the paper's settings for it.
PAPER_FLAGFILES = {"coco_captions": "coco_caption_ours.flags", "tfds_coco_captions": "coco_caption_ours.flags",
                   "coco_multilabel": "coco_multilabel_ours.flags", "nuswide": "nuswide_ours.flags"}
# Flags that are the run's own, never a paper setting.
_RUN_FLAGS = ("data_dir", "model_dir", "stage", "flagfile")


@dataclasses.dataclass
class TrainFlags:
    """The defined flag sets of `s-cnn-rnn-train` (see the module docstring)."""

    run: option_flags.DataclassFlags
    model: option_flags.DataclassFlags
    per_stage: dict
    all_stages: option_flags.DataclassFlags
    flag_values: flags.FlagValues

    def options(self) -> stage_runner.TrainOptions:
        """The training library's options, read from the flags (each dataclass validates its own).

        Raises:
          errors.OptionError / ModelConfigError: a value that makes no sense, naming its flag.
        """
        with self._paper_defaults():
            return self._options()

    @contextlib.contextmanager
    def _paper_defaults(self):
        """While the options are read: the flags nobody set hold the paper's values for the data dir."""
        paper = paper_settings(self.flag_values["data_dir"].value)
        unset = {name: value for name, value in paper.items() if not self.flag_values[name].present}
        saved = {name: self.flag_values[name].value for name in unset}
        if unset:
            logging.info("flags not given take the paper's values for this dataset: %s",
                         " ".join(f"--{name}={value}" for name, value in sorted(unset.items())))
        try:
            for name, value in unset.items():
                self.flag_values[name].value = value
            yield
        finally:
            for name, value in saved.items():
                self.flag_values[name].value = value

    def _options(self) -> stage_runner.TrainOptions:
        model = self.model.build(num_concepts=1, vocab_size=1)  # the sizes come from the data
        train_steps = self.flag_values["train_steps"].value
        fixed = {"train_steps": train_steps} if train_steps is not None else {}
        mixed_precision = self.flag_values["mixed_precision"].value
        step_scale = self.flag_values["step_scale"].value
        learning_rate_scale = self.flag_values["learning_rate_scale"].value
        stage_settings = {
            stage: scale_stage_settings(
                self.all_stages.merged(self.per_stage[stage]).build(
                    stage=stage, mixed_precision=mixed_precision, **fixed),
                step_scale, learning_rate_scale)
            for stage in stages.STAGES
        }
        return self.run.build(model=model, stage_settings=stage_settings)


# StageSettings fields in steps that --step_scale multiplies.
SCALED_STEP_FIELDS = ("train_steps", "head_steps", "log_every", "checkpoint_every", "validate_every")


def scale_steps(steps: int, scale: float) -> int:
    """`steps` times `scale`, rounded, at least 1; 0 (off, e.g. no validation) stays 0."""
    return 0 if steps == 0 else max(1, round(steps * scale))


# A scaled stage validates and checkpoints at most about this many times (and at its last step).
MAX_SCALED_EVENTS = 20
# The intervals of those events.
EVENT_INTERVAL_FIELDS = ("checkpoint_every", "validate_every")


def scale_stage_settings(settings: "trainer.StageSettings", scale: float,
                         learning_rate_scale: float = 1.0) -> "trainer.StageSettings":
    """A stage's settings with every step count and interval multiplied by `scale` (--step_scale)
    and its learning rate by `learning_rate_scale` (--learning_rate_scale).

    A scaled stage's checkpoint and validation intervals are at least ceil(steps / 20), its steps
    the scaled total (head steps included): a validation decodes images, so one per step of a
    shrunk schedule would cost more than the training it measures. 0 (never) stays 0.
    """
    if scale != 1.0:
        scaled = {name: scale_steps(getattr(settings, name), scale) for name in SCALED_STEP_FIELDS}
        floor = math.ceil((scaled["train_steps"] + scaled["head_steps"]) / MAX_SCALED_EVENTS)
        for name in EVENT_INTERVAL_FIELDS:
            if scaled[name]:
                scaled[name] = max(scaled[name], floor)
        settings = dataclasses.replace(settings, **scaled)
    if learning_rate_scale != 1.0:
        settings = dataclasses.replace(settings, learning_rate=settings.learning_rate * learning_rate_scale)
    return settings


def define(flag_values: flags.FlagValues = flags.FLAGS, choices: dict | None = None) -> TrainFlags:
    """Defines every flag of `s-cnn-rnn-train` in `flag_values`.

    Args:
      flag_values: where to define them (a fresh `flags.FlagValues()` to parse a flagfile apart).
      choices: {ModelConfig field: accepted values}, overriding the variant/backbone/activation lists.

    Returns:
      The `TrainFlags` to read the parsed values back with.
    """
    model_choices = {"variant": config_lib.VARIANTS, "backbone": config_lib.BACKBONES,
                     "lstm_activation": config_lib.LSTM_ACTIVATIONS, **(choices or {})}
    run = option_flags.define(stage_runner.TrainOptions, defaults={"stage": "all", "task": "caption", "validation_decode_examples": 256},
                              flag_values=flag_values)
    model = option_flags.define(config_lib.ModelConfig, exclude=MODEL_FIELDS_WITHOUT_FLAG, choices=model_choices,
                                paths=("backbone_weights",), flag_values=flag_values)
    flags.DEFINE_integer("train_steps", None, "If set: the total steps of every stage this run trains "
                         "(overrides --<stage>_train_steps).", lower_bound=1, flag_values=flag_values)
    # A flagfile's schedule at CPU size (s-cnn-rnn-reproduce --scale passes it through).
    flags.DEFINE_float("step_scale", 1.0, "Multiplies every stage's train and head steps and the log, checkpoint "
                       "and validation intervals (each >= 1; 0 stays 0; a scaled stage checkpoints and validates "
                       f"at most about {MAX_SCALED_EVENTS} times: those intervals are at least "
                       f"ceil(steps / {MAX_SCALED_EVENTS})): a paper flagfile at CPU size.",
                       lower_bound=1e-12, flag_values=flag_values)
    # One point of a learning-rate grid (s-cnn-rnn-reproduce --lr_grid passes it through).
    flags.DEFINE_float("learning_rate_scale", 1.0, "Multiplies every stage's learning rate (after the flagfile's "
                       "--<stage>_learning_rate): one point of a learning-rate grid.", lower_bound=1e-12,
                       flag_values=flag_values)
    per_stage = {
        stage: option_flags.define(
            trainer.StageSettings, prefix=f"{stage}_", help_prefix=f"{stage} stage: ",
            fields=PER_STAGE_FIELDS + (("head_steps",) if stage == "cnn" else ()),
            choices={"optimizer": trainer.OPTIMIZERS}, defaults={"train_steps": steps}, flag_values=flag_values)
        for stage, steps in STAGE_DEFAULT_STEPS.items()
    }
    # mixed_precision is TrainOptions' flag; head_steps is --cnn_head_steps.
    all_stages = option_flags.define(
        trainer.StageSettings, exclude=("stage", "mixed_precision", "head_steps") + PER_STAGE_FIELDS,
        defaults={"batch_size": 32}, flag_values=flag_values)
    return TrainFlags(run, model, per_stage, all_stages, flag_values)


def paper_flagfile(dataset: str) -> str | None:
    """The path of the paper's flagfile for a converted dataset (None: it has none, or not found)."""
    name = PAPER_FLAGFILES.get(dataset)
    candidates = (os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags"),
                  os.path.join(sys.prefix, "share", "s-cnn-rnn", "flags"))
    paths = [os.path.join(directory, name) for directory in candidates] if name else []
    return next((path for path in paths if os.path.isfile(path)), None)


def paper_settings(data_dir: str | None) -> dict:
    """{flag name: value} that the paper's flagfile for `data_dir`'s dataset sets; {} without one
    (no data dir, no manifest yet: training reports that itself; a dataset of no paper table)."""
    try:
        dataset = data_dir_lib.read_manifest(data_dir).get("dataset") if data_dir else None
    except (OSError, ValueError):
        return {}
    path = paper_flagfile(dataset) if isinstance(dataset, str) else None
    if path is None:
        return {}
    values = flags.FlagValues()
    define(values)
    command_line.parse_flags(["s-cnn-rnn-train", f"--flagfile={path}", "--data_dir=-", "--model_dir=-"],
                             "s-cnn-rnn-train", values)
    return {name: values[name].value for name in values if values[name].present and name not in _RUN_FLAGS}
