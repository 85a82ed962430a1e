"""Ctrl-C in training: the first is a request honoured at the next step, the second raises at once.

The end-to-end check (a real process saves its step and exits 130) is in test_training_processes.py.
"""

import signal

import pytest

from s_cnn_rnn.training import interrupts


@pytest.fixture(name="python_sigint")
def _python_sigint():
    """SIGINT with Python's default handler (KeyboardInterrupt) for the test, then what it was."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_first_ctrl_c_is_a_request_the_second_raises_and_restore_gives_the_handler_back(python_sigint, capfd):
    stop = interrupts.StopRequest().install()
    try:
        stop.raise_if_requested()  # nothing asked yet
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        assert "stopping after the current step" in capfd.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            stop.raise_if_requested()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        stop.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_restore_without_a_ctrl_c_gives_the_handler_back(python_sigint):
    stop = interrupts.StopRequest().install()
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    stop.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not stop.requested


@pytest.mark.parametrize("handler", [signal.SIG_IGN, lambda signum, frame: None], ids=["ignored", "own handler"])
def test_an_ignored_sigint_or_a_callers_handler_is_left_alone(python_sigint, handler):
    signal.signal(signal.SIGINT, handler)
    stop = interrupts.StopRequest().install()
    assert signal.getsignal(signal.SIGINT) is handler
    stop.restore()
    assert signal.getsignal(signal.SIGINT) is handler
