"""Runs a console script's `main` in the test process, as its entry point would, and returns what it did.

Every command module defines its flags on absl's global FLAGS when imported, and two commands share
flag names (--model_dir), so two command modules cannot be imported side by side. `run_command`
imports the module, runs it through `command_line.run` (flagfiles, one-line errors, exit status) and
then removes the flags the import defined and forgets the module, so the next command imports clean.
"""

import dataclasses
import importlib
import logging
import sys

import pytest
from absl import flags

from s_cnn_rnn import command_line


@dataclasses.dataclass
class Outcome:
    """A finished command: its exit status, stdout and stderr."""

    code: int
    out: str
    err: str
    log: str  # absl logging's lines (its handler writes to the real stderr, which capsys does not see)

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if ": error: " in line]


def run_command(module_name: str, command: str, args: list[str], capsys) -> Outcome:
    """Runs `command` (e.g. "s-cnn-rnn-predict") from `module_name` with `args`; never raises SystemExit.

    Args:
      module_name: the module whose `main(argv)` the console script runs (s_cnn_rnn.predict).
      command: the console script's name, the prefix of its error lines.
      args: the command line after the program name.
      capsys: pytest's capsys fixture.
    """
    values = flags.FLAGS
    before = set(values)
    imported_here = module_name not in sys.modules
    module = importlib.import_module(module_name)
    main = getattr(module, "main")
    values.unparse_flags()
    capsys.readouterr()
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.addHandler(handler)
    absl_logger.setLevel(logging.INFO)  # what the console script shows (absl's default under app.run)
    try:
        with pytest.raises(SystemExit) as exit_info:
            command_line.run(main, command, argv=[command, *args])
        code = exit_info.value.code
    finally:
        absl_logger.removeHandler(handler)
        absl_logger.setLevel(level)
        values.unparse_flags()
        if imported_here:
            for name in set(values) - before:
                if name in values:  # a short name goes with its flag
                    delattr(values, name)
            sys.modules.pop(module_name, None)
    captured = capsys.readouterr()
    return Outcome(0 if code is None else int(code), captured.out, captured.err, "\n".join(records))
