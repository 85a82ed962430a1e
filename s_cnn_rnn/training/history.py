"""Writes `MODEL_DIR/<stage>/history.jsonl`: one JSON object per logged step, appended and flushed.

Reading it (and what a line cut by a crash means) is `model_dir.read_history`'s, re-exported here.
`StageClock` stamps each record with the wall-clock and CPU seconds the stage has cost so far.
"""

import contextlib
import json
import math
import time

from s_cnn_rnn import atomic_files
from s_cnn_rnn.model_dir import HistoryError  # noqa: F401  (re-exported)
from s_cnn_rnn.model_dir import CPU_SECONDS, VALIDATION_WALL_SECONDS, WALL_SECONDS, read_history


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
        # The newest kept record that has a clock: a resumed stage's seconds continue from it.
        self.resumed = next((r for r in reversed(kept) if WALL_SECONDS in r), {})
        # Rewritten atomically: a crash here leaves the old file, never a half-written one.
        atomic_files.write_text(path, "".join(json.dumps(record, sort_keys=True) + "\n" for record in kept))
        self._handle = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def write(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._handle.write(json.dumps(clean, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class StageClock:
    """Wall-clock and CPU seconds a stage has cost, over every process that trained it.

    "wall_seconds" is the training cost a user pays: from the stage's start (the trainer's
    construction: restoring or handing over the weights, building the dataset, tracing the
    tf.functions) to now, minus the time spent validating, which goes to
    "validation_wall_seconds" instead (validation is optional and its cost differs between
    variants: the image-free rnn stage decodes nothing). A resumed stage continues from the
    newest record of the earlier process (the seconds between that record and its checkpoint
    are lost; the steps that process trained past its checkpoint are trained again and counted).

    "cpu_seconds" is the process' CPU time over the same span (`time.process_time`: every thread,
    the input pipeline's image decoding included), validation left out likewise. It charges every
    pass at its cost (a forward pass through a frozen CNN included, an image-free step only its
    LSTM) and depends less than wall seconds on what else shares the machine. A record of an
    older process without it leaves it out of the new records: the stage's CPU cost is unknown.

    Args:
      started: `time.perf_counter()` at the stage's start in this process.
      resumed: the newest earlier record with a clock (`HistoryWriter.resumed`), or {}.
      started_cpu: `time.process_time()` at the stage's start in this process.
    """

    def __init__(self, started: float, resumed: dict, started_cpu: float | None = None):
        self._started = started
        self._started_cpu = time.process_time() if started_cpu is None else started_cpu
        self._earlier = resumed.get(WALL_SECONDS) or 0.0
        self._earlier_validation = resumed.get(VALIDATION_WALL_SECONDS) or 0.0
        # None: an earlier process trained the stage without counting CPU seconds.
        self._earlier_cpu = resumed.get(CPU_SECONDS) if resumed else 0.0
        self._validation = 0.0  # validating, in this process
        self._validation_cpu = 0.0

    @contextlib.contextmanager
    def validating(self):
        """Counts the block's seconds as validation, not training."""
        begun, begun_cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self._validation += time.perf_counter() - begun
            self._validation_cpu += time.process_time() - begun_cpu

    def stamp(self) -> dict:
        """{"wall_seconds", "validation_wall_seconds", "cpu_seconds" (when known)} so far, to add to a
        history record."""
        elapsed = time.perf_counter() - self._started
        stamp = {WALL_SECONDS: round(self._earlier + elapsed - self._validation, 3),
                 VALIDATION_WALL_SECONDS: round(self._earlier_validation + self._validation, 3)}
        if self._earlier_cpu is not None:
            cpu = time.process_time() - self._started_cpu - self._validation_cpu
            stamp[CPU_SECONDS] = round(self._earlier_cpu + cpu, 3)
        return stamp
