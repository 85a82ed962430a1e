"""The conversion's staging directory `OUTPUT_DIR.tmp-<pid>`: created marked, removed on any exit.

A conversion writes everything into a staging directory beside the output and renames it into
place at the end. This module makes sure no staging directory outlives its run:

* `sigterm_raises()`: SIGTERM (`kill`, a job scheduler's timeout) raises `Terminated`, a
  KeyboardInterrupt, so it takes the same cleanup path as Ctrl-C instead of killing the
  process on the spot (which left gigabytes behind for COCO).
* `create()` writes a marker file into the new directory; `remove_stale()` (run at the start
  of every conversion) removes the staging directories of runs whose process is gone, and only
  those that match our naming AND hold our marker; live or unmarked ones are only reported.
"""

import contextlib
import os
import re
import shutil
import signal
import threading
from typing import Iterator

from s_cnn_rnn import atomic_files

MARKER_FILE = ".s-cnn-rnn-staging"


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; raised in the main thread so that cleanup runs."""


def _raise_terminated(signum, frame):
    del frame
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}; the staging dir was removed")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (elsewhere: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def staging_path(output_dir: str, pid: int | None = None) -> str:
    """`OUTPUT_DIR.tmp-<pid>` (this process's by default)."""
    return f"{output_dir}.tmp-{os.getpid() if pid is None else pid}"


def create(output_dir: str) -> str:
    """Makes this process's staging dir (empty, marked) and returns its path."""
    path = staging_path(output_dir)
    shutil.rmtree(path, ignore_errors=True)  # an earlier run of this very process
    os.makedirs(path)
    atomic_files.write_json(os.path.join(path, MARKER_FILE), {"pid": os.getpid(), "output_dir": output_dir})
    return path


def unmark(path: str) -> None:
    """Removes the marker just before the staging dir is published as the output."""
    os.remove(os.path.join(path, MARKER_FILE))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(output_dir: str) -> list[str]:
    """Removes the staging dirs of dead conversions into `output_dir`; reports the others.

    Args:
      output_dir: the absolute output directory (no trailing slash).

    Returns:
      One message per staging dir found (removed, or left because it is in use or unmarked).
    """
    parent, base = os.path.split(output_dir)
    pattern = re.compile(re.escape(base) + r"\.tmp-(\d+)")
    messages = []
    for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
        match = pattern.fullmatch(name)
        path = os.path.join(parent, name)
        if not match or not os.path.isdir(path) or int(match.group(1)) == os.getpid():
            continue
        pid = int(match.group(1))
        if not os.path.isfile(os.path.join(path, MARKER_FILE)):
            messages.append(f"left {path} alone: it has no {MARKER_FILE} marker, so it may not be a staging dir "
                            "of s-cnn-rnn-convert; remove it yourself if it is")
        elif _process_alive(pid):
            messages.append(f"{path} belongs to a conversion still running (pid {pid}); left alone")
        else:
            shutil.rmtree(path, ignore_errors=True)
            messages.append(f"removed {path}, the staging dir of an interrupted conversion (pid {pid} is gone)")
    return messages

