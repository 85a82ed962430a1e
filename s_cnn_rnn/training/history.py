"""`MODEL_DIR/<stage>/history.jsonl`: one JSON object per logged step, appended and flushed.

A crash (disk full, power loss) can cut the line being appended; that last line is dropped
with a warning so the stage stays resumable. A bad line anywhere else is not a crash's
trace but a damaged file: that is an error naming the file and the line.
"""

import json
import math
import os

from absl import logging

from s_cnn_rnn import atomic_files
from s_cnn_rnn import errors


class HistoryError(errors.UserError, ValueError):
    """history.jsonl holds a line that is not JSON before its last line."""


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


def read_history(path: str) -> list[dict]:
    """Reads a history file; a missing file is an empty history.

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
