"""The `--splits` flag: named files of image ids that move images out of the train split.

`--splits=val:karpathy_val_ids.txt,test:karpathy_test_ids.txt` puts the listed ids in
"val" and "test"; every image listed in no file is "train" (readers with an official
split, such as NUS-WIDE, keep their own split for unlisted images). A split name is kept
exactly as given ("train-holdout" stays "train-holdout", never merged into "train"); names
outside [A-Za-z0-9_-] are refused, since they become file names.
"""

import re
from typing import Iterable, NamedTuple

from data_prep.sources import annotation_io
from data_prep.sources.base import AnnotationError

DEFAULT_SPLIT = "train"
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")


class SplitEntry(NamedTuple):
    """One `NAME:FILE` entry of the flag."""

    name: str
    path: str

_FLAG_FIX = (
    "Write the flag as --splits=NAME:FILE[,NAME:FILE...], e.g. val:val_ids.txt,test:test_ids.txt."
)


def read_id_file(path: str) -> list[int]:
    """Reads image ids, one per line; blank lines are ignored, repeats are kept once.

    Raises:
      AnnotationError: the file is missing or a line is not an integer (named by number).
    """
    lines = annotation_io.read_text_lines(
        path, "split id file", "Pass a text file with one image id per line."
    )
    ids, seen = [], set()
    for line_number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if not text.isdigit():
            raise annotation_io.fail(
                path,
                f"line {line_number} is {text!r}, not an image id",
                "Write one non-negative integer image id per line.",
            )
        image_id = int(text)
        if image_id not in seen:
            seen.add(image_id)
            ids.append(image_id)
    return ids


def parse_split_entries(flag: str | None) -> list[SplitEntry]:
    """The `NAME:FILE` entries of the flag, in order, without reading the files.

    Raises:
      AnnotationError: a malformed entry, a name outside [A-Za-z0-9_-], a split named twice.
    """
    entries, seen_names = [], set()
    for entry in (flag or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, colon, path = entry.partition(":")
        name, path = name.strip(), path.strip()
        if not colon or not name or not path:
            raise AnnotationError(f"--splits entry {entry!r} is not NAME:FILE. {_FLAG_FIX}")
        if not _SPLIT_NAME.fullmatch(name):
            raise AnnotationError(
                f"--splits: the split name {name!r} may use only letters, digits, '_' and '-' "
                f"(it names the shard files). {_FLAG_FIX}"
            )
        if name in seen_names:
            raise AnnotationError(f"--splits names the split {name!r} twice. {_FLAG_FIX}")
        seen_names.add(name)
        entries.append(SplitEntry(name, path))
    return entries


def parse_splits_flag(flag: str | None) -> dict[int, str]:
    """Parses `"val:FILE,test:FILE"` into a map image id -> split name.

    Args:
      flag: comma-separated `NAME:FILE` entries; None or "" gives an empty map.

    Returns:
      {image_id: split_name} for every id listed; ids in no file are absent (-> "train").

    Raises:
      AnnotationError: a malformed entry or name, a split named twice, a missing or malformed
        file, or an id listed in two files (both files are named).
    """
    splits: dict[int, str] = {}
    source_file: dict[int, str] = {}
    for name, path in parse_split_entries(flag):
        for image_id in read_id_file(path):
            if image_id in splits:
                raise annotation_io.fail(
                    path,
                    f"image id {image_id} is also listed in {source_file[image_id]} "
                    f"(split {splits[image_id]!r})",
                    "An image can belong to one split only; remove it from one of the files.",
                )
            splits[image_id] = name
            source_file[image_id] = path
    return splits


def split_of(image_id: int, splits: dict[int, str] | None, default: str = DEFAULT_SPLIT) -> str:
    """The split of `image_id`: its entry in `splits`, else `default`."""
    if splits and image_id in splits:
        return splits[image_id]
    return default


def split_file_coverage(flag: str | None, known_ids: Iterable[int]) -> list[dict]:
    """How many ids of each split file name an image of the dataset.

    Args:
      flag: the `--splits` value.
      known_ids: the ids of every image the annotations describe (kept or skipped).

    Returns:
      One {"split", "file", "listed", "found"} per entry, in flag order.

    Raises:
      AnnotationError: a split file none of whose ids is an image of the dataset (wrong file,
        or ids of another dataset), naming the file.
    """
    known = set(known_ids)
    coverage = []
    for name, path in parse_split_entries(flag):
        ids = read_id_file(path)
        found = sum(1 for image_id in ids if image_id in known)
        if not found:
            raise annotation_io.fail(
                path,
                f"none of its {len(ids)} ids (split {name!r}) is an image of the dataset",
                "Check that the file lists ids of these annotations (e.g. the Karpathy ids of COCO 2014).",
            )
        coverage.append({"split": name, "file": path, "listed": len(ids), "found": found})
    return coverage
