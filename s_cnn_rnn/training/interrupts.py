"""Ctrl-C during training stops at the next step boundary, never inside TensorFlow's C++ code.

A `KeyboardInterrupt` raised while TensorFlow's C++ code is running (Python's SIGINT handler runs
there when that code checks for signals, e.g. while `tf.summary.scalar` converts its value) can crash
the process with a segmentation fault, so the checkpoint of the steps trained since the last save is
never written. `StopRequest` therefore takes the first Ctrl-C as a request: the step in progress (and
a validation in progress) finishes, then the loop raises `KeyboardInterrupt` at a point where only
Python runs. A second Ctrl-C raises at once, as Python's own handler does.
"""

import os
import signal
import threading

_NOTICE = b"\nCtrl-C: stopping after the current step (press Ctrl-C again to stop at once)\n"


class StopRequest:
    """Between `install()` and `restore()`, SIGINT only requests a stop; `raise_if_requested()` acts on it.

    Only in the main thread (the only one that may set signal handlers) and only where SIGINT has
    Python's default handler: an ignored SIGINT (a background job) stays ignored, and a handler
    installed by the caller (a test, an embedding program) is left alone.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def install(self) -> "StopRequest":
        """Takes over SIGINT (where allowed, see the class docstring); returns self."""
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def restore(self) -> None:
        """Gives SIGINT back the handler it had before `install()`."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame) -> None:  # pylint: disable=unused-argument
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)  # the second Ctrl-C raises wherever it lands
        # os.write, not logging: the handler may run while the main thread is inside a logging call.
        os.write(2, _NOTICE)

    def raise_if_requested(self) -> None:
        """Raises `KeyboardInterrupt` if a Ctrl-C came since `install()`."""
        if self.requested:
            raise KeyboardInterrupt
