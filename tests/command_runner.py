"""Runs a console script in the test process, as its entry point would, and returns what it did.

Every command module defines its flags on absl's global FLAGS when imported, and commands share
flag names (--model_dir, --output_dir), so two command modules cannot be imported side by side.
`run_command` sets the flags of every other command aside, imports the module, runs it (through
`command_line.run`, or the module's own `run()` entry point) and then puts the flags back as they
were and forgets the module, so tests that import command modules at the top still work after it.
"""

import contextlib
import dataclasses
import importlib
import logging
import sys

import pytest
from absl import flags

from s_cnn_rnn import command_line

_PROJECT_PACKAGES = ("s_cnn_rnn", "data_prep", "__main__")
_REGISTRIES = ("__flags_by_module", "__flags_by_module_id", "__key_flags_by_module")


@dataclasses.dataclass
class Outcome:
    """A finished command: its exit status, stdout, stderr and absl log lines."""

    code: int
    out: str
    err: str
    log: str  # absl logging's lines (its handler writes to the real stderr, which capsys does not see)

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if ": error: " in line]


@contextlib.contextmanager
def _own_flags(module_name: str):
    """While inside: FLAGS holds absl's flags and `module_name`'s only; afterwards exactly what it held."""
    values = flags.FLAGS
    state = values.__dict__
    saved = {"__flags": dict(state["__flags"]), "__hiddenflags": set(state["__hiddenflags"]),
             **{key: {module: list(entries) for module, entries in state[key].items()} for key in _REGISTRIES}}
    imported_here = module_name not in sys.modules
    if imported_here:  # other commands' flags would collide with this module's definitions
        for module, defined in list(values.flags_by_module_dict().items()):
            if module.split(".")[0] in _PROJECT_PACKAGES:
                for flag in defined:
                    if flag.name in values:
                        delattr(values, flag.name)
    try:
        yield importlib.import_module(module_name)
    finally:
        values.unparse_flags()
        if imported_here:
            sys.modules.pop(module_name, None)
            state.update(saved)


def run_command(module_name: str, command: str, args: list[str], capsys, entry_point: bool = False) -> Outcome:
    """Runs `command` (e.g. "s-cnn-rnn-predict") from `module_name` with `args`; never raises SystemExit.

    Args:
      module_name: the module whose `main(argv)` the console script runs (s_cnn_rnn.predict).
      command: the console script's name, the prefix of its error lines.
      args: the command line after the program name.
      capsys: pytest's capsys fixture.
      entry_point: call the module's `run()` (the console script itself, with its own flag parsing)
        instead of `command_line.run(main, ...)`.
    """
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.addHandler(handler)
    absl_logger.setLevel(logging.INFO)  # what the console script shows (absl's default under app.run)
    argv = sys.argv
    try:
        with _own_flags(module_name) as module:
            flags.FLAGS.unparse_flags()
            capsys.readouterr()
            with pytest.raises(SystemExit) as exit_info:
                if entry_point:
                    sys.argv = [command, *args]
                    module.run()
                else:
                    command_line.run(module.main, command, argv=[command, *args])
            code = exit_info.value.code
    finally:
        sys.argv = argv
        absl_logger.removeHandler(handler)
        absl_logger.setLevel(level)
    captured = capsys.readouterr()
    return Outcome(0 if code is None else int(code), captured.out, captured.err, "\n".join(records))
