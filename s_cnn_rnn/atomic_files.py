"""Writing files and directories so that a reader never sees a half-written one.

Every output of the project goes through here: the content is written to a temporary name
in the destination's own folder (same filesystem) and renamed over the destination, which
is atomic on POSIX. On any error the temporary file is removed.
"""

import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator


@contextlib.contextmanager
def replacing(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path`; renames it over `path` if the block succeeds.

    Use it for writers that want a file name (matplotlib's savefig, a TFRecord writer).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; outputs are for everyone to read
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with replacing(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)


def write_text(path: str, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, payload, indent: int = 1) -> None:
    """Writes `payload` as JSON (keys in insertion order, a final newline) atomically."""
    write_text(path, json.dumps(payload, indent=indent) + "\n")


def publish_dir(staging_dir: str, target_dir: str) -> None:
    """Moves a finished staging directory to `target_dir`, replacing an old one if present.

    The old directory is moved aside before the new one is renamed in (a rename cannot
    replace a non-empty directory) and deleted afterwards, so `target_dir` is at every
    moment either the complete old output or the complete new one.
    """
    if not os.path.exists(target_dir):
        os.replace(staging_dir, target_dir)
        return
    parent = os.path.dirname(os.path.abspath(target_dir))
    retired = tempfile.mkdtemp(prefix=f".{os.path.basename(target_dir)}.old-", dir=parent)
    os.replace(target_dir, os.path.join(retired, "old"))
    os.replace(staging_dir, target_dir)
    shutil.rmtree(retired, ignore_errors=True)
