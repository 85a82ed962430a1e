"""Writes `MODEL_DIR/<stage>/history.jsonl`: one JSON object per logged step, appended and flushed.

Reading it (and what a line cut by a crash means) is `model_dir.read_history`'s, re-exported here.
"""

import json
import math

from s_cnn_rnn import atomic_files
from s_cnn_rnn.model_dir import HistoryError  # noqa: F401  (re-exported)
from s_cnn_rnn.model_dir import read_history


class HistoryWriter:
    """Appends step records; a resumed stage drops records past its restored step.

    Args:
      path: the history.jsonl file.
      resume_step: the step the stage restarts from; records after it (written after the
        checkpoint being resumed) are removed so the file has no duplicate steps.
    """

    def __init__(self, path: str, resume_step: int = 0):
        self._path = path
        kept = [r for r in read_history(path) if r.get("step", 0) <= resume_step] if resume_step else []
        # Rewritten atomically: a crash here leaves the old file, never a half-written one.
        atomic_files.write_text(path, "".join(json.dumps(record, sort_keys=True) + "\n" for record in kept))
        self._handle = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def write(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._handle.write(json.dumps(clean, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
