"""A model directory (training's output): its config, vocabularies, histories and checkpoints.

MODEL_DIR/
  model_config.json      the ModelConfig and the task, so evaluate/predict/export rebuild the model
  model_summary.txt      keras summary() of the model's functional graphs (for people; rewritten each run)
  vocab/*.txt            copies of the data's vocabularies (the model's output ids mean these words)
  vocab/fingerprints.json
  cnn/ rnn/ joint/       one folder per stage: checkpoints/, best/ (the best by a validation metric,
                         where training keeps one), tensorboard/, history.jsonl, LOCK (training/locks.py)

Training writes model_config.json and vocab/ only once the model is built (a run that fails
before binds nothing) and only from the chief worker (training/chief.py). Training, evaluation,
prediction, serving and the benchmarks all read a model dir through this module, so none of
them imports another's package for it. It imports no TensorFlow at load time: the command-line
tools check a model dir before paying TensorFlow's start-up; only the checkpoint functions
import it.
"""

import dataclasses
import json
import os

from absl import logging

from s_cnn_rnn import atomic_files
from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import errors
from s_cnn_rnn import record_schema
from s_cnn_rnn.models import variants
from s_cnn_rnn.vocabulary import Vocabularies

CONFIG_FILE = "model_config.json"
SUMMARY_FILE = "model_summary.txt"
FINGERPRINTS_FILE = "vocab/fingerprints.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
HISTORY_FILE = "history.jsonl"
# The stage whose checkpoint, when there is one, holds the whole trained model.
FINAL_STAGE = "joint"
# Which of a stage's checkpoints inference restores (the --checkpoint flag of evaluate, predict, export).
CHECKPOINT_CHOICES = "best | latest | STEP"


class VocabularyMismatchError(errors.UserError, ValueError):
    """The data's vocabularies differ from those the model was trained with."""


class HistoryError(errors.UserError, ValueError):
    """history.jsonl holds a line that is not JSON before its last line."""


@dataclasses.dataclass(frozen=True)
class Handover:
    """One part of the model that a stage's checkpoint hands to a later stage (T6).

    Attributes:
      source: the stage whose newest checkpoint holds the part.
      target: the stage that starts from it (and, for `FINAL_STAGE`, the stage whose
        absence makes the part come from `source` when a model is restored).
      part: the part's name in messages ("CNN", "decoder").
      items: the part's key in `_PARTS` ("cnn", "decoder", "tag_mlp"): `part_items` gives its
        `tf.train.Checkpoint` items.
    """

    source: str
    target: str
    part: str
    items: str


# A part of the model (`variants.Stage.starts_from`'s names) -> (its name in messages, the
# `tf.train.Checkpoint` items that restore only it from a stage checkpoint; `models/layout.py`
# fixes their names). A stage checkpoint holds the whole model, so the tag MLP sits under concept_cnn.
_PARTS = {
    "cnn": ("CNN", lambda model: model.cnn_checkpoint_items()),
    "decoder": ("decoder", lambda model: model.decoder_checkpoint_items()),
    "tag_mlp": ("tag MLP", lambda model: {"concept_cnn": items} if (items := model.tag_mlp_checkpoint_items()) else {}),
}
# Which stage's checkpoint initialises which part of which later stage, read from the stage records
# (`models/variants.py`, `Stage.starts_from`): a new pretraining stage is one record there.
HANDOVERS = tuple(
    Handover(source=source, target=stage.name, part=_PARTS[part][0], items=part)
    for stage in variants.STAGES.values() for source, part in stage.starts_from
)


def part_items(model, part: str) -> dict:
    """The checkpoint items of one part of `model` ("cnn", "decoder", "tag_mlp")."""
    return _PARTS[part][1](model)


def stage_dir(model_dir: str, stage: str) -> str:
    """MODEL_DIR/<stage>: the stage's checkpoints, history, tensorboard logs and LOCK."""
    return os.path.join(model_dir, stage)


def checkpoints_dir(model_dir: str, stage: str) -> str:
    """MODEL_DIR/<stage>/checkpoints (a tf.train.CheckpointManager directory)."""
    return os.path.join(model_dir, stage, CHECKPOINTS_DIR)


def history_path(model_dir: str, stage: str) -> str:
    """MODEL_DIR/<stage>/history.jsonl: one JSON record per logged step."""
    return os.path.join(model_dir, stage, HISTORY_FILE)


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# ----------------------------------------------------------------------------- config, summary
# model_config.json's format. 1 (no "config_format" key): written before the VGG16 backbone read fc2,
# when `backbone: vgg16` meant the pooled pool5 features (now `vgg16_pool5`). 2: today's.
CONFIG_FORMAT = 2
CONFIG_FORMAT_KEY = "config_format"


def save_config(model_dir: str, config: dict) -> None:
    """Writes model_config.json (the ModelConfig dict plus the task), marked with its format."""
    atomic_files.write_json(os.path.join(model_dir, CONFIG_FILE), dict(config, **{CONFIG_FORMAT_KEY: CONFIG_FORMAT}))


def upgrade_config(saved: dict) -> dict:
    """A model_config.json payload of any earlier format in today's terms (without the format key).

    Format 1 -> 2: `backbone: vgg16` was the pooled pool5 backbone, today's `vgg16_pool5`, whose
    variables are the same, so such a model dir keeps loading, evaluating and resuming.
    """
    config = dict(saved)
    version = config.pop(CONFIG_FORMAT_KEY, 1)
    if version > CONFIG_FORMAT:
        raise errors.UserError(
            f"model_config.json has format {version}, newer than this s_cnn_rnn understands ({CONFIG_FORMAT}): "
            "upgrade s_cnn_rnn")
    if version < 2 and config.get("backbone") == "vgg16":
        config["backbone"] = "vgg16_pool5"
    return config


def load_config(model_dir: str) -> dict:
    """Reads model_config.json in today's terms (`upgrade_config`), with a clear error when the
    folder holds no model."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: {model_dir} holds no trained model (run s-cnn-rnn-train).")
    return upgrade_config(_read_json(path))


def check_config(model_dir: str, config: dict, may_change: bool) -> bool:
    """Refuses a config other than the saved one unless it `may_change`.

    Args:
      model_dir: the model directory.
      config: the model_config.json payload a run would write.
      may_change: no stage has a checkpoint with the saved settings yet, so they may be replaced.

    Returns:
      Whether model_config.json needs writing (none yet, or replaced settings).

    Raises:
      errors.OptionError: the model dir holds another model's config.
    """
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return True
    saved = load_config(model_dir)
    different = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if different and may_change:
        logging.info("%s replaced: no stage has a checkpoint with its settings yet", path)
    elif different:
        raise errors.OptionError(
            f"{path} was written for another model ({', '.join(f'{k}: {saved.get(k)!r} != {config.get(k)!r}' for k in different)}); "
            "use the same settings to resume, or a new --model_dir."
        )
    return bool(different)


def save_summary(model_dir: str, summary: str) -> None:
    """Writes model_summary.txt (the text of `SCnnRnnModel.summary()`)."""
    atomic_files.write_text(os.path.join(model_dir, SUMMARY_FILE), summary)


# -------------------------------------------------------------------------------- vocabularies
def load_vocabularies(model_dir: str) -> Vocabularies:
    """The vocabularies saved with a model."""
    return Vocabularies.load(model_dir)


def _refuse_other_vocabularies(model_dir: str, data_dir: str, saved: dict, fingerprints: dict, fix: str) -> None:
    """Raises VocabularyMismatchError naming each vocabulary whose fingerprint differs."""
    different = sorted(name for name in fingerprints if saved.get(name) != fingerprints[name])
    if different:
        raise VocabularyMismatchError(
            f"the vocabularies of {data_dir} ({', '.join(different)}) differ from the ones the model in "
            f"{model_dir} was trained with ({os.path.join(model_dir, record_schema.VOCAB_DIR)}): the model's ids "
            f"would mean other words. {fix}"
        )


def bind_vocabularies(model_dir: str, data_dir: str, write: bool = True, may_change: bool = False) -> Vocabularies:
    """Saves the data's vocabularies into a new model dir, or checks they match an existing one.

    Args:
      model_dir: the model directory.
      data_dir: the converter's output the model trains on.
      write: save them when the model dir has none (or other ones it `may_change`); False
        only checks (training checks before building the model, writes once it is built).
      may_change: no stage has trained with the saved vocabularies yet (a first run that
        failed before its first checkpoint), so other ones replace them instead of being refused.

    Returns:
      The vocabularies.

    Raises:
      VocabularyMismatchError: the model dir was trained on data with other vocabularies.
    """
    vocabularies = Vocabularies.load(data_dir)
    fingerprints = vocabularies.fingerprints()
    saved_path = os.path.join(model_dir, FINGERPRINTS_FILE)
    saved = _read_json(saved_path) if os.path.exists(saved_path) else None
    if saved == fingerprints:
        return vocabularies
    if saved is not None and not may_change:
        _refuse_other_vocabularies(model_dir, data_dir, saved, fingerprints,
                                   "Use the data the model was trained on, or a new --model_dir.")
    if write:
        vocabularies.save(model_dir)
        atomic_files.write_json(saved_path, fingerprints)
    return vocabularies


def check_vocabularies(model_dir: str, data_dir: str) -> None:
    """Refuses data whose vocabularies differ from the model's, writing nothing (evaluation).

    Every fingerprint must match, as `bind_vocabularies` demands; the model's are computed
    from its vocab/*.txt, the files its output ids are decoded with.

    Raises:
      FileNotFoundError: `data_dir` is not converted data (no manifest or vocabulary files).
      VocabularyMismatchError: naming the vocabularies that differ.
    """
    data_dir_lib.dataset_info(data_dir)  # a clear error when the manifest or vocab/ is missing
    _refuse_other_vocabularies(
        model_dir, data_dir, load_vocabularies(model_dir).fingerprints(), Vocabularies.load(data_dir).fingerprints(),
        "Evaluate on data converted with the model's training vocabularies.")


# ------------------------------------------------------------------------------------- history
def read_history(path: str) -> list[dict]:
    """Reads a history.jsonl file; a missing file is an empty history.

    A crash (disk full, power loss) can cut the line being appended; that last line is dropped
    with a warning so the stage stays resumable. A bad line anywhere else is not a crash's
    trace but a damaged file.

    Raises:
      HistoryError: a line other than the last is not JSON (names the file and line).
    """
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if index == len(lines) - 1:
                logging.warning("%s: dropped its last line %d, cut by an interrupted write (%s)",
                                path, number, error)
                break
            raise HistoryError(
                f"{path}, line {number}: not a JSON record ({error}); the file is damaged: fix or delete "
                "that line (the checkpoints do not depend on it)."
            ) from None
    return records


def stage_histories(model_dir: str, stages: tuple[str, ...]) -> dict[str, list[dict]]:
    """{stage: records} for those of `stages` that have a history, in the given order."""
    histories = {}
    for stage in stages:
        records = read_history(history_path(model_dir, stage))
        if records:
            histories[stage] = records
    return histories


# ---------------------------------------------------------------------------------- checkpoints
def latest_checkpoint(model_dir: str, stage: str) -> str | None:
    """The newest checkpoint prefix of a stage (None when it has none)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    return tf.train.latest_checkpoint(checkpoints_dir(model_dir, stage))


def check_checkpoint_choice(which: str) -> str:
    """`which` stripped; ValueError unless it is best, latest or a step number."""
    which = str(which).strip()
    if which not in ("best", "latest") and not which.isdigit():
        raise ValueError(f"--checkpoint must be {CHECKPOINT_CHOICES}, got {which!r}")
    return which


def checkpoint_path(model_dir: str, stage: str, which: str = "latest") -> str | None:
    """A stage's checkpoint: its best (else latest), its latest, or the one of step `which`.

    Args:
      model_dir: the model directory.
      stage: the stage.
      which: "best" (`<stage>/best/`, the latest where the stage kept none), "latest"
        (`<stage>/checkpoints/`) or a step number (`ckpt-STEP` from either folder).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    checkpoints, best = checkpoints_dir(model_dir, stage), os.path.join(model_dir, stage, BEST_DIR)
    if which == "latest":
        return tf.train.latest_checkpoint(checkpoints)
    if which == "best":
        return tf.train.latest_checkpoint(best) or tf.train.latest_checkpoint(checkpoints)
    for folder in (checkpoints, best):
        path = os.path.join(folder, f"ckpt-{which}")
        if tf.io.gfile.exists(path + ".index"):
            return path
    return None


def restore_checkpoint(items: dict, path: str) -> None:
    """Restores `items` (a part's or the whole model's layout) from a checkpoint that may hold more.

    Raises:
      AssertionError: a variable of `items` is not in the checkpoint (another model's checkpoint).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    tf.train.Checkpoint(**items).read(path).expect_partial().assert_existing_objects_matched()


def handovers_into(stage: str, variant_stages: tuple[str, ...]) -> tuple[Handover, ...]:
    """The rows of `HANDOVERS` that initialise `stage` from stages the variant runs."""
    return tuple(row for row in HANDOVERS if row.target == stage and row.source in variant_stages)


def initialize_stage(model, model_dir: str, stage: str, variant_stages: tuple[str, ...]) -> dict:
    """Starts a stage from its earlier stages' newest weights (the joint stage: T6).

    Args:
      model: the `SCnnRnnModel` about to train `stage`.
      model_dir: the model directory.
      stage: the stage about to train.
      variant_stages: the stages of the model's variant (`Variant.stages`).

    Returns:
      {source stage: checkpoint path restored}; empty for a stage that starts from scratch.

    Raises:
      FileNotFoundError: a source stage has no checkpoint yet (naming the --stage to run).
    """
    restored = {}
    for row in handovers_into(stage, variant_stages):
        path = latest_checkpoint(model_dir, row.source)
        if path is None:
            raise FileNotFoundError(
                f"the {stage} stage starts from the {row.source} stage, but {stage_dir(model_dir, row.source)} "
                f"has no checkpoint: run --stage={row.source} (or --stage=all) first."
            )
        restore_checkpoint(part_items(model, row.items), path)
        logging.info("%s stage initialised from %s", stage, path)
        restored[row.source] = path
    return restored


def restore_model(model, model_dir: str, variant_stages: tuple[str, ...], which: str = "latest") -> dict:
    """Restores a model's complete weights from a model dir.

    The final (joint) checkpoint when there is one; otherwise each part of the model from the
    stage that would hand it to the final stage (a model pretrained but not fine-tuned).

    Args:
      model: a freshly built `SCnnRnnModel` of the model dir's config.
      model_dir: the model directory.
      variant_stages: the stages of the model's variant.
      which: which checkpoint of each stage, see `checkpoint_path`.

    Returns:
      {"all" | source stage: checkpoint path restored}.

    Raises:
      FileNotFoundError: no (such) checkpoint for a part of the model.
      ValueError: `which` is none of best, latest or a step number.
    """
    which = check_checkpoint_choice(which)
    final = checkpoint_path(model_dir, FINAL_STAGE, which)
    if final is None and which.isdigit() and latest_checkpoint(model_dir, FINAL_STAGE):
        raise FileNotFoundError(
            f"{stage_dir(model_dir, FINAL_STAGE)} has no checkpoint of step {which} (--checkpoint): pass best, "
            f"latest or a step it kept ({stage_dir(model_dir, FINAL_STAGE)}/*/ckpt-*)")
    if final:
        restore_checkpoint(model.checkpoint_items(), final)
        return {"all": final}
    restored = {}
    rows = [row for row in HANDOVERS if row.target == FINAL_STAGE and part_items(model, row.items)]
    for part in dict.fromkeys(row.part for row in rows):
        sources = [row for row in rows if row.part == part]
        found = [(row, path) for row in sources if row.source in variant_stages
                 for path in (checkpoint_path(model_dir, row.source, which),) if path]
        if not found:
            looked = " and ".join(f"{directory}/" for directory in
                                  [row.source for row in sources if row.source in variant_stages] + [FINAL_STAGE])
            raise FileNotFoundError(
                f"{model_dir} has no {'' if which in ('best', 'latest') else f'step-{which} '}checkpoint for the "
                f"{part} (looked in {looked}): train it with s-cnn-rnn-train --stage=all first, or pass "
                "--checkpoint=best|latest."
            )
        # The last of the variant's stages that trains the part holds its newest weights.
        row, path = max(found, key=lambda pair: variant_stages.index(pair[0].source))
        restore_checkpoint(part_items(model, row.items), path)
        restored[row.source] = path
    return restored
