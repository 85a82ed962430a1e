"""`MODEL_DIR/<stage>/history.jsonl`: one JSON object per logged step, appended and flushed."""

import json
import math
import os


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
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in kept:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
        os.replace(temporary, path)
        self._handle = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def write(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._handle.write(json.dumps(clean, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_history(path: str) -> list[dict]:
    """Reads a history file; a missing file is an empty history."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
