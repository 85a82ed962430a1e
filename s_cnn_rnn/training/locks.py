"""One training per stage of a model dir at a time: `MODEL_DIR/<stage>/LOCK`.

The lock is an `fcntl.flock` on an open file, not the file's existence: the OS releases it
when the holding process exits, however it dies (kill -9, OOM, power loss of a local
disk), so a lock left by a dead process never blocks and nobody has to guess whether a
recorded pid is still alive. The file itself stays (deleting it would let a third run lock
a fresh inode while the second still holds the old one); it records who holds it, for the
refusal message only. Stages lock separately, so the paper's cnn and rnn pretraining can
run in parallel on one model dir.

flock works on local filesystems and on NFSv4; on a filesystem without locking support the
error says so instead of training unguarded.
"""

import datetime
import errno
import fcntl
import os
import socket

from s_cnn_rnn import errors

LOCK_FILE = "LOCK"


class StageLockedError(errors.UserError, RuntimeError):
    """Another live process is training this stage of this model dir."""


class StageLock:
    """An exclusive, non-blocking lock on one stage directory.

    Use as a context manager, or call `acquire()` / `release()`.

    Args:
      stage_dir: `MODEL_DIR/<stage>`; created if missing.
    """

    def __init__(self, stage_dir: str):
        self.stage_dir = stage_dir
        self.path = os.path.join(stage_dir, LOCK_FILE)
        self._fd = None

    def acquire(self) -> "StageLock":
        """Takes the lock at once or raises `StageLockedError` naming the holder."""
        os.makedirs(self.stage_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OSError(error.errno, f"cannot lock {self.path} ({error.strerror}): the filesystem of "
                              "--model_dir must support file locks (flock)") from error
            raise StageLockedError(
                f"{self.stage_dir} is being trained by another run ({_read_holder(self.path)}, lock "
                f"{self.path}): wait for it to finish or stop it; two runs on one stage would mix their "
                "checkpoints and history."
            ) from None
        # Ours now: record who holds it (for the message another run prints).
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Releases the lock (closing the file releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "StageLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def is_locked(stage_dir: str) -> bool:
    """Whether a live process holds the lock of `stage_dir` (a free or missing lock is False)."""
    path = os.path.join(stage_dir, LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _read_holder(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or "holder unknown"
    except OSError:
        return "holder unknown"
