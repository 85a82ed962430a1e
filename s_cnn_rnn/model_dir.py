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

import json
import os

from absl import logging

from s_cnn_rnn import atomic_files
from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import errors
from s_cnn_rnn import record_schema
from s_cnn_rnn.vocabulary import Vocabularies

CONFIG_FILE = "model_config.json"
SUMMARY_FILE = "model_summary.txt"
FINGERPRINTS_FILE = "vocab/fingerprints.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
BEST_FILE = "best.json"  # in BEST_DIR: {"step", "metric", "value", "checkpoint"} of the kept checkpoint
HISTORY_FILE = "history.jsonl"
# History keys of the stage clock (`training/history.py` StageClock): training and validation wall seconds,
# and the training process' CPU seconds (every thread: the input pipeline's image decoding included).
WALL_SECONDS = "wall_seconds"
VALIDATION_WALL_SECONDS = "validation_wall_seconds"
CPU_SECONDS = "cpu_seconds"
# The stage whose checkpoint, when there is one, holds the whole trained model.
FINAL_STAGE = "joint"
# Which of a stage's checkpoints inference restores (the --checkpoint flag of evaluate, predict, export).
CHECKPOINT_CHOICES = "best | latest | STEP"


class VocabularyMismatchError(errors.UserError, ValueError):
    """The data's vocabularies differ from those the model was trained with."""


class HistoryError(errors.UserError, ValueError):
    """history.jsonl holds a line that is not JSON before its last line."""


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


# model_config.json fields that are not ModelConfig's: the task, and the training's dtype policy
# (a float16 model's checkpoints hold loss-scaling state that a float32 resume cannot read, and back).
RUN_FIELDS = ("task", "mixed_precision")
# Fields added after model dirs were written without them: a saved config that lacks one matches anything.
_ADDED_FIELDS = ("mixed_precision",)


def model_fields(saved: dict) -> dict:
    """A model_config.json payload without the `RUN_FIELDS`: what `ModelConfig.from_dict` takes."""
    return {key: value for key, value in saved.items() if key not in RUN_FIELDS}


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
    different = sorted(k for k in set(saved) | set(config)
                       if saved.get(k) != config.get(k) and not (k in _ADDED_FIELDS and k not in saved))
    if different and may_change:
        logging.info("%s replaced: no stage has a checkpoint with its settings yet", path)
    elif different:
        fix = ("use the same settings to resume, or a new --model_dir" if different != ["mixed_precision"] else
               f"resume with --mixed_precision={saved['mixed_precision']} (its checkpoints' optimizer state is of that "
               "policy), or train into a new --model_dir")
        raise errors.OptionError(
            f"{path} was written for another model ({', '.join(f'{k}: {saved.get(k)!r} != {config.get(k)!r}' for k in different)}); "
            f"{fix}."
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


def read_best(stage_dir: str) -> dict | None:
    """`STAGE_DIR/best/best.json` ({"step", "metric", "value", "checkpoint"}) or None."""
    path = os.path.join(stage_dir, BEST_DIR, BEST_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


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
    if which == "best" and (kept := _recorded(best)) is not None:  # whole, never silently replaced
        return _complete(kept, "best", "--checkpoint=latest")
    if which in ("best", "latest"):  # "best": the stage kept none
        return _complete(_recorded(checkpoints), "latest", "--checkpoint=STEP (a step kept in that folder)")
    for folder in (checkpoints, best):
        path = os.path.join(folder, f"ckpt-{which}")
        if tf.io.gfile.exists(path + ".index"):
            return _complete(path, f"step {which}", "--checkpoint=best or --checkpoint=latest")
    return None


class CheckpointFilesError(errors.UserError, ValueError):
    """A checkpoint the model dir records has lost some of its files."""


def _recorded(folder: str) -> str | None:
    """The checkpoint prefix a folder's `checkpoint` state file names (whether its files exist or not)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    state = tf.train.get_checkpoint_state(folder) if tf.io.gfile.isdir(folder) else None
    return state.model_checkpoint_path if state is not None and state.model_checkpoint_path else None


def missing_checkpoint_files(prefix: str) -> list[str]:
    """The files of checkpoint `prefix` that are gone: its `.index` and every `.data-K-of-N` shard."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    missing = [] if tf.io.gfile.exists(prefix + ".index") else [prefix + ".index"]
    shards = tf.io.gfile.glob(prefix + ".data-*-of-*")
    count = int(shards[0].rsplit("-of-", 1)[1]) if shards else 1
    expected = [f"{prefix}.data-{index:05d}-of-{count:05d}" for index in range(count)]
    return missing + [path for path in expected if path not in shards]


def _complete(prefix: str | None, which: str, fix: str) -> str | None:
    """`prefix` when all its files are there (None stays None).

    Raises:
      CheckpointFilesError: some are gone, naming them and `fix`.
    """
    missing = missing_checkpoint_files(prefix) if prefix is not None else []
    if missing:
        gone = ", ".join(os.path.basename(path) for path in missing)
        raise CheckpointFilesError(
            f"the {which} checkpoint {prefix} has lost {gone} (deleted or not copied): pass {fix} to use "
            "another checkpoint, or copy the model dir again")
    return prefix


def restore_checkpoint(items: dict, path: str) -> None:
    """Restores `items` (a part's or the whole model's layout) from a checkpoint that may hold more.

    Raises:
      AssertionError: a variable of `items` is not in the checkpoint (another model's checkpoint).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (see the module docstring)

    tf.train.Checkpoint(**items).read(path).expect_partial().assert_existing_objects_matched()
