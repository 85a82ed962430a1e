"""What a model directory holds besides checkpoints: its config and its vocabularies.

MODEL_DIR/
  model_config.json      the ModelConfig and the task, so evaluate/predict/export rebuild the model
  model_summary.txt      keras summary() of the model's functional graphs (for people; rewritten each run)
  vocab/*.txt            copies of the data's vocabularies (the model's output ids mean these words)
  vocab/fingerprints.json
  cnn/ rnn/ joint/       one folder per stage: checkpoints/, tensorboard/, history.jsonl, LOCK (locks.py)

Training writes model_config.json and vocab/ only once the model is built (a run that fails
before binds nothing) and only from the chief worker (chief.py).
"""

import json
import os

from s_cnn_rnn import atomic_files
from s_cnn_rnn import errors
from s_cnn_rnn import record_schema
from s_cnn_rnn.vocabulary import Vocabularies

CONFIG_FILE = "model_config.json"
SUMMARY_FILE = "model_summary.txt"
FINGERPRINTS_FILE = "vocab/fingerprints.json"


class VocabularyMismatchError(errors.UserError, ValueError):
    """The data's vocabularies differ from those the model was trained with."""


# The inference commands' --checkpoint flag (evaluate, predict, export): its default and help.
CHECKPOINT_HELP = ("Weights to restore: best = each stage's best checkpoint by its validation metric "
                   "(MODEL_DIR/<stage>/best/), its latest where it kept none (the default); latest = the newest in "
                   "<stage>/checkpoints/; STEP = ckpt-STEP.")


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def bind_vocabularies(model_dir: str, data_dir: str, write: bool = True, may_change: bool = False) -> Vocabularies:
    """Saves the data's vocabularies into a new model dir, or checks they match an existing one.

    Args:
      model_dir: the model directory.
      data_dir: the converter's output the model trains or evaluates on.
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
        different = sorted(name for name in fingerprints if saved.get(name) != fingerprints[name])
        raise VocabularyMismatchError(
            f"the vocabularies of {data_dir} ({', '.join(different)}) differ from the ones the model in "
            f"{model_dir} was trained with ({os.path.join(model_dir, record_schema.VOCAB_DIR)}): the model's ids "
            "would mean other words. Use the data the model was trained on, or a new --model_dir."
        )
    if write:
        vocabularies.save(model_dir)
        atomic_files.write_json(saved_path, fingerprints)
    return vocabularies


def load_vocabularies(model_dir: str) -> Vocabularies:
    """The vocabularies saved with a model."""
    return Vocabularies.load(model_dir)


def save_config(model_dir: str, config: dict) -> None:
    """Writes model_config.json (the ModelConfig dict plus the task)."""
    atomic_files.write_json(os.path.join(model_dir, CONFIG_FILE), config)


def save_summary(model_dir: str, summary: str) -> None:
    """Writes model_summary.txt (the text of `SCnnRnnModel.summary()`)."""
    atomic_files.write_text(os.path.join(model_dir, SUMMARY_FILE), summary)


def load_config(model_dir: str) -> dict:
    """Reads model_config.json, with a clear error when the folder holds no model."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: {model_dir} holds no trained model (run s-cnn-rnn-train).")
    return _read_json(path)
