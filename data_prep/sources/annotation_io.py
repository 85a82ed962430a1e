"""Shared helpers for reading annotation files with errors that name the file and the fix.

Every reader goes through these functions, so a missing file, a JSON syntax error or a
missing key always surfaces as an `AnnotationError` with the same shape of message:
`<path>: <what is wrong>. <how to fix it>`.
"""

import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from data_prep.sources.base import AnnotationError

# `bytes.decode(errors="surrogateescape")` maps each undecodable byte to U+DC80..U+DCFF;
# a JSON `\udXXX` escape can also smuggle in a lone surrogate. Either way the text is not
# valid UTF-8 and cannot be written to a TFRecord as such.
_SURROGATE_MIN, _SURROGATE_MAX = 0xD800, 0xDFFF


def fail(path: str, problem: str, fix: str) -> AnnotationError:
    """Builds the standard error: the file, what is wrong with it, and how to fix it."""
    return AnnotationError(f"{path}: {problem}. {fix}")


def require_file(path: str, what: str, fix: str | None = None) -> str:
    """Returns `path` made absolute if it is an existing regular file.

    Args:
      path: the file to check.
      what: what the file is, for the message ("COCO captions JSON").
      fix: how to obtain or point at the file; a generic hint when None.

    Raises:
      AnnotationError: the file does not exist or is not a regular file.
    """
    if not path or not os.path.isfile(path):
        problem = f"{what} not found" if not os.path.isdir(path or "") else f"{what} is a directory"
        raise fail(path or "<empty path>", problem, fix or f"Pass the path of an existing {what}.")
    return os.path.abspath(path)


def read_json(path: str, what: str, fix: str | None = None):
    """Reads a JSON file, keeping invalid UTF-8 bytes visible as lone surrogates.

    The bytes are decoded with `errors="surrogateescape"`, so one bad caption does not
    make the whole file unreadable; callers test individual strings with
    `is_valid_utf8_text` and drop what fails.

    Args:
      path: the JSON file.
      what: what the file is, for error messages.
      fix: how to repair or regenerate it; a generic hint when None.

    Returns:
      The parsed JSON value.

    Raises:
      AnnotationError: the file is missing or is not valid JSON.
    """
    path = require_file(path, what, fix)
    with open(path, "rb") as stream:
        raw = stream.read()
    text = raw.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark is legal but not JSON
        text = text[1:]
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise fail(
            path,
            f"{what} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            fix or "Re-download or regenerate the file; it may be truncated.",
        ) from None


def read_text_lines(path: str, what: str, fix: str | None = None) -> list[str]:
    """Reads a UTF-8 text file as lines, with CR (Windows line ends) and trailing blanks removed.

    Blank lines are kept (as "") so line numbers stay aligned with other files; a final
    newline does not make an extra line.

    Raises:
      AnnotationError: the file is missing or is not valid UTF-8 (the line is named).
    """
    path = require_file(path, what, fix)
    with open(path, "rb") as stream:
        raw = stream.read()
    lines = raw.split(b"\n")
    if lines and lines[-1].strip() == b"":
        lines.pop()  # the text after the final newline
    decoded = []
    for line_number, line in enumerate(lines, start=1):
        try:
            decoded.append(line.decode("utf-8").rstrip("\r").rstrip())
        except UnicodeDecodeError:
            problem = f"line {line_number} is not valid UTF-8"
            raise fail(path, problem, "Save the file as UTF-8.") from None
    return decoded


def read_name_list(path: str, what: str, fix: str | None = None) -> list[str]:
    """Reads a list of names, one per line (blank lines ignored); names must be unique.

    Raises:
      AnnotationError: missing file, empty list, or a name listed twice.
    """
    names = [line.strip() for line in read_text_lines(path, what, fix) if line.strip()]
    if not names:
        raise fail(path, f"{what} lists no names", fix or "Point at the right file.")
    seen = set()
    for name in names:
        if name in seen:
            raise fail(path, f"{what} lists {name!r} twice", "Remove the duplicate line.")
        seen.add(name)
    return names


def is_valid_utf8_text(text: str) -> bool:
    """True when `text` has no lone surrogate, i.e. it round-trips through UTF-8."""
    return not any(_SURROGATE_MIN <= ord(char) <= _SURROGATE_MAX for char in text)


def require_keys(record, keys: Iterable[str], path: str, where: str, fix: str) -> None:
    """Checks that `record` is a JSON object having every key in `keys`.

    Args:
      record: the parsed JSON value to check.
      keys: the keys it must have.
      path: the file it came from, for the message.
      where: its position in the file, e.g. 'annotations[17]' or 'the top level'.
      fix: how to repair the file.

    Raises:
      AnnotationError: `record` is not an object or lacks a key.
    """
    if not isinstance(record, dict):
        raise fail(path, f"{where} is a {type(record).__name__}, expected a JSON object", fix)
    missing = [key for key in keys if key not in record]
    if missing:
        raise fail(path, f"{where} has no {', '.join(repr(key) for key in missing)}", fix)


def require_list(value, path: str, where: str, fix: str) -> list:
    """Returns `value` if it is a JSON array, else raises AnnotationError naming `where`."""
    if not isinstance(value, list):
        raise fail(path, f"{where} is a {type(value).__name__}, expected a JSON array", fix)
    return value


def as_image_id(value, path: str, where: str, fix: str) -> int:
    """Converts a JSON image id (an integer, or a string of digits) to int.

    Raises:
      AnnotationError: the id is neither (booleans and floats are rejected too).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise fail(path, f"{where} has image id {value!r}, expected an integer", fix)


def as_path_list(paths: str | Sequence[str] | None) -> list[str]:
    """Accepts one path, a list of paths, or None; returns a list (empty for None)."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(path) for path in paths]


def names_per_row(matrix: np.ndarray, names: Sequence[str]) -> list[list[str]]:
    """Turns a 0/1 matrix into, for each row, the names of its non-zero columns.

    Args:
      matrix: `[rows, len(names)]`, any numeric or bool dtype.
      names: the column names.

    Returns:
      One list per row, names in column order.
    """
    rows, columns = np.nonzero(matrix)  # row-major, so columns ascend within a row
    row_starts = np.searchsorted(rows, np.arange(matrix.shape[0] + 1))
    columns = columns.tolist()
    return [
        [names[c] for c in columns[row_starts[row] : row_starts[row + 1]]]
        for row in range(matrix.shape[0])
    ]
