"""What `s-cnn-rnn-reproduce --output_dir` may be: new, empty, or an earlier reproduce's output.

A rerun resumes into its own output, so an existing folder is fine when everything in it is what
reproduce writes there: a folder per row (named by the row's key) and the tables' files
(`table<N>.md/.json/.png`, `table<N>_efficiency.png`), and the --pretrained_backbone files when the
user puts them there. A data dir, a model dir or a folder of
the user's files is refused by `output_guard`, as convert and export refuse them, and so is an
output that is, contains or lies inside the data dir or the flagfiles. Pure Python.
"""

import os
import re

from s_cnn_rnn import output_guard
from s_cnn_rnn.reproduce import tables as tables_lib

_TABLE_FILE = re.compile(r"table\d+(_efficiency)?\.(md|json|png)$")
_ROW_KEYS = frozenset(key for table in tables_lib.TABLES.values() for row in table.rows
                      for key in (row.key, row.run_key))


def foreign_entry(directory: str, also_ours: frozenset = frozenset()) -> str | None:
    """None when `directory` holds only reproduce's own entries (and the names `also_ours`), else the first other."""
    for name in sorted(os.listdir(directory)):
        temporary = name.startswith(".") and name.endswith(".tmp")  # an atomic write cut short
        if name not in _ROW_KEYS and name not in also_ours and not _TABLE_FILE.match(name) and not temporary:
            return repr(name)
    return None


def check(output_dir: str, data_dir: str, flags_dir: str, own_files: tuple = ()) -> None:
    """Refuses an --output_dir reproduce must not write into (see the module docstring).

    Args:
      own_files: other files this run writes, e.g. the --pretrained_backbone weights, their report and log;
        those directly in the output dir are its own too.

    Raises:
      output_guard.UnsafeOutputError: naming the path, what it is and the fix (one line).
    """
    real = os.path.realpath(output_dir)
    also_ours = frozenset(os.path.basename(path) for path in own_files
                          if path and os.path.dirname(os.path.realpath(path)) == real)
    kind = output_guard.OutputKind("an s-cnn-rnn-reproduce output", "s-cnn-rnn-reproduce", "--output_dir",
                                   lambda directory: foreign_entry(directory, also_ours))
    # overwrite=True: reproduce never replaces its output, it resumes into it.
    output_guard.check_output_dir(output_dir, [("--data_dir", data_dir), ("--flags_dir", flags_dir)], kind,
                                  overwrite=True)
