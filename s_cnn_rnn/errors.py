"""`UserError`: the base class of errors a user can fix by changing a flag, a file or the machine.

The console scripts (`s_cnn_rnn/command_line.py`) print such an error as ONE line,
`<command>: error: <message>`, and exit with status 2; any other exception is a bug and keeps its
traceback. So the message must say what is wrong and what to change (the flag, the file, the fix).

Library modules raise a subclass (`ModelConfigError`, `VocabularyMismatchError`,
`NonFiniteLossError`, `OptionError`, `ConversionError`, `AnnotationError`, ...) that usually also
derives from the built-in type callers already catch (ValueError, RuntimeError), so library
users see no change. This module imports nothing of the project and no TensorFlow.
"""


# The words every non-finite-loss error of training carries (`trainer.NonFiniteLossError`); the lr grid of
# `s-cnn-rnn-reproduce` finds a diverged run by them in its log.
NON_FINITE_LOSS = "the loss became non-finite"


class UserError(Exception):
    """An error the user can fix; its message is one line naming the flag or file and the fix."""


class OptionError(UserError, ValueError):
    """An option (a flag, or a field of an options dataclass) has a value that makes no sense.

    Attributes:
      field: the dataclass field at fault (None when not one field); `option_flags` uses it to
        name the flag the value came from.
      reason: the message without the field's name ("must be >= 1").
    """

    def __init__(self, message: str, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.field = field
        self.reason = reason or message


def check_at_least(owner: str, name: str, value, minimum) -> None:
    """Raises `OptionError` unless `value` is a number >= `minimum` (bools are refused).

    Args:
      owner: the dataclass (and instance detail) the field belongs to, for the message.
      name: the field.
      value: its value.
      minimum: the smallest accepted value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        reason = f"must be {'an integer' if isinstance(minimum, int) else 'a number'} >= {minimum}"
        raise OptionError(f"{owner}.{name}={value!r}: {reason}", field=name, reason=reason)


def check_choice(owner: str, name: str, value, choices) -> None:
    """Raises `OptionError` unless `value` is one of `choices`."""
    if value not in choices:
        reason = f"must be one of {', '.join(map(str, choices))}"
        raise OptionError(f"{owner}.{name}={value!r}: {reason}", field=name, reason=reason)
