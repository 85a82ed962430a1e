"""`python -m s_cnn_rnn.reproduce.child PARENT_PID -m MODULE ...`: runs a command that dies with its parent.

s-cnn-rnn-reproduce starts every training and evaluation through this module. On Linux it asks the
kernel to send the command SIGTERM when the process that started it dies (`prctl(PR_SET_PDEATHSIG)`,
kept across `exec`), so a `kill -9` of reproduce leaves no training running on as an orphan that a
rerun would find writing the same model dir and log. Then it replaces itself with
`python -m MODULE ...` (same pid, so reproduce waits for the command itself). Elsewhere it only execs.
Standard library only: it costs a few milliseconds before the command starts.
"""

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Asks for SIGTERM when the parent dies; exits at once if it already has (the request came too late)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the command runs unguarded, as before
    if os.getppid() != parent_pid:
        os._exit(143)  # pylint: disable=protected-access  (the parent died before the request: as SIGTERM would)


def main(argv: list[str]) -> None:
    parent_pid, command = int(argv[1]), argv[2:]
    die_with_parent(parent_pid)
    os.execv(sys.executable, [sys.executable, *command])


if __name__ == "__main__":
    main(sys.argv)
