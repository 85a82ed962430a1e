"""Running and recording `bench/paper_scale.py`'s commands: each one's own wall, CPU and peak memory
(`os.wait4`), CPU per training step read from `/proc` as the stage's history grows, the work dir's
disk use, and the result saved phase by phase. No TensorFlow.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from s_cnn_rnn import atomic_files

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(message: str) -> None:
    print(f"[paper_scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Run:
    """One finished command: wall and CPU seconds, peak resident memory of its largest process (MB),
    per-step samples [(step, phase, wall seconds of the step, CPU seconds of the step)]."""

    command: list
    wall: float
    cpu: float
    peak_mb: float
    steps: list = dataclasses.field(default_factory=list)


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) of a running process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_command(command: list, log_path: str, history_path: str | None = None) -> Run:
    """Runs `command` from the project root, output to `log_path`; `os.wait4` gives its own usage.

    With `history_path` (a stage's history.jsonl, one record per step), the process's CPU time is
    read each time a record appears, so every step gets its own CPU seconds.

    Raises:
      RuntimeError: the command failed (naming its log).
    """
    log("$ " + " ".join(command))
    started = time.perf_counter()
    seen, samples = 0, []

    def sample(cpu):
        nonlocal seen
        if history_path and os.path.exists(history_path):
            with open(history_path, encoding="utf-8") as handle:
                lines = [line for line in handle.read().split("\n")[:-1] if line.strip()]  # whole lines
            samples.extend((json.loads(line), cpu) for line in lines[seen:])
            seen = max(seen, len(lines))

    with open(log_path, "w", encoding="utf-8") as output:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT)
        while True:  # reaped here (not by Popen) so that wait4 reports the process's own usage
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            sample(_process_cpu(process.pid))
            time.sleep(0.2)
        process.returncode = os.waitstatus_to_exitcode(status)
    sample(None)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"exit {process.returncode}: {' '.join(command)} (see {log_path})")
    steps, previous_cpu = [], None
    for record, cpu in samples:
        if "steps_per_second" in record and record.get("steps_per_second"):
            step_cpu = None if cpu is None or previous_cpu is None else cpu - previous_cpu
            steps.append((record["step"], record.get("phase", "all"), 1.0 / record["steps_per_second"], step_cpu))
        previous_cpu = cpu
    return Run(command, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, steps)


def disk_bytes(path: str) -> int:
    """Bytes allocated under `path`, each inode once (as `du`): hard-linked stand-ins count once."""
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(root, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


class Disk:
    """The work dir's size at each measuring point, kept in `result["disk"]` as it is measured."""

    def __init__(self, work_dir: str, result: dict):
        self.work_dir = work_dir
        self.record = result["disk"] = {"peak_bytes": 0, "points": []}

    def measure(self, label: str) -> int:
        size = disk_bytes(self.work_dir)
        self.record["points"].append({"after": label, "bytes": size})
        self.record["peak_bytes"] = max(self.record["peak_bytes"], size)
        log(f"disk: {size / 1e9:.2f} GB under the work dir after {label}")
        return size


class Progress:
    """The result so far: each phase's outcome is saved as it ends, so that a failure late in a long
    run keeps the measurements made before it (`--report_only` renders them). A phase that fails at
    full size is itself a finding: its error is recorded and the run goes on with what does not need it."""

    def __init__(self, path: str, result: dict):
        self.path, self.result, self.failed = path, result, []

    def save(self) -> None:
        atomic_files.write_json(self.path, self.result)

    def phase(self, name: str, function, *args):
        """`function(*args)`, or None (its error recorded under result["errors"][name]) if it raises."""
        try:
            value = function(*args)
        except Exception as error:  # pylint: disable=broad-except  (recorded, the run goes on)
            log(f"FAILED {name}: {error}")
            self.result.setdefault("errors", {})[name] = f"{type(error).__name__}: {error}"
            self.failed.append(name)
            value = None
        self.save()
        return value
