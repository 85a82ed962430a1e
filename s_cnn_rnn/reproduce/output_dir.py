"""What `s-cnn-rnn-reproduce --output_dir` may be: new, empty, or an earlier reproduce's output.

A rerun resumes into its own output, so an existing folder is fine when everything in it is what
reproduce writes there: a folder per row (named by the row's key) and the tables' files
(`table<N>.md/.json/.png`, `table<N>_efficiency.png`). A data dir, a model dir or a folder of
the user's files is refused by `output_guard`, as convert and export refuse them, and so is an
output that is, contains or lies inside the data dir or the flagfiles. Pure Python.
"""

import os
import re

from s_cnn_rnn import output_guard
from s_cnn_rnn.reproduce import tables as tables_lib

_TABLE_FILE = re.compile(r"table\d+(_efficiency)?\.(md|json|png)$")
_ROW_KEYS = frozenset(row.key for table in tables_lib.TABLES.values() for row in table.rows)


def foreign_entry(directory: str) -> str | None:
    """None when `directory` holds only reproduce's own entries, else the first other one."""
    for name in sorted(os.listdir(directory)):
        temporary = name.startswith(".") and name.endswith(".tmp")  # an atomic write cut short
        if name not in _ROW_KEYS and not _TABLE_FILE.match(name) and not temporary:
            return repr(name)
    return None


KIND = output_guard.OutputKind("an s-cnn-rnn-reproduce output", "s-cnn-rnn-reproduce", "--output_dir",
                               foreign_entry)


def check(output_dir: str, data_dir: str, flags_dir: str) -> None:
    """Refuses an --output_dir reproduce must not write into (see the module docstring).

    Raises:
      output_guard.UnsafeOutputError: naming the path, what it is and the fix (one line).
    """
    # overwrite=True: reproduce never replaces its output, it resumes into it.
    output_guard.check_output_dir(output_dir, [("--data_dir", data_dir), ("--flags_dir", flags_dir)], KIND,
                                  overwrite=True)
