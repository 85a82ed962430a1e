"""NUS-WIDE reader: 81 ground-truth concepts (labels) and the 1,000 user tags (Tag1K).

Two inputs are understood:

(a) the official layout under `nuswide_dir`:
    Concepts81.txt
    ImageList/TrainImagelist.txt, ImageList/TestImagelist.txt   (`actor\\0001_2124494179.jpg`)
    Groundtruth/TrainTestLabels/Labels_{concept}_{Train,Test}.txt  (one 0/1 per list line)
    NUS_WID_Tags/TagList1k.txt, NUS_WID_Tags/{Train,Test}_Tags1k.dat  (1000 0/1 per list line)
    The NUS_WID_Tags folder is optional (a separate download): without it there are no tags.
(b) a per-image JSON `{photo_id: {"file": path, "tags1k": [tags], "concepts81": [concepts], ...}}`
    (other keys ignored; "tags1k" optional).

Images without any ground-truth concept are skipped ("no labels"), as the paper does (SPEC D2).
"""

import os

import numpy as np

from data_prep.sources import annotation_io
from data_prep.sources.annotation_io import fail
from data_prep.sources.base import AnnotationError, RawItem, SourceData
from data_prep.sources.splits import split_of

_LAYOUT_FIX = (
    "Point --nuswide_dir at the unpacked NUS-WIDE folder holding Concepts81.txt, ImageList/, "
    "Groundtruth/TrainTestLabels/ (and NUS_WID_Tags/ for the Tag1K side information)."
)
_JSON_FIX = 'Write it as {"<photo id>": {"file": ..., "tags1k": [...], "concepts81": [...]}}.'
# Bytes a 0/1 matrix file may hold: the two digits and whitespace.
_MATRIX_BYTES = np.zeros(256, dtype=bool)
_MATRIX_BYTES[[ord("0"), ord("1"), ord(" "), ord("\t"), ord("\r"), ord("\n")]] = True
_NEWLINE = ord("\n")
_CHUNK_BYTES = 1 << 24  # bounds the temporaries of read_binary_matrix to a few times this
_OFFICIAL_PARTS = (("Train", "train"), ("Test", "test"))


def _check_matrix_chunk(chunk: np.ndarray, first_line: int, path: str) -> np.ndarray:
    """Validates whole lines of a 0/1 file; returns `is_digit` `[len(chunk)]` bool.

    Raises:
      AnnotationError: a byte other than 0/1/blank, or two digits glued together.
    """
    def line_of(position: int) -> int:
        return first_line + int(np.count_nonzero(chunk[:position] == _NEWLINE)) + 1

    bad = np.flatnonzero(~_MATRIX_BYTES[chunk])
    if bad.size:
        raise fail(path, f"line {line_of(bad[0])} holds a value other than 0 or 1",
                   "Each line must hold 0/1 values separated by spaces or tabs.")
    is_digit = (chunk == ord("0")) | (chunk == ord("1"))
    glued = np.flatnonzero(is_digit[:-1] & is_digit[1:])
    if glued.size:
        raise fail(path, f"line {line_of(glued[0])} holds a value other than 0 or 1",
                   "Separate the 0/1 values by spaces or tabs.")
    return is_digit


def read_binary_matrix(path: str, num_columns: int, what: str) -> np.ndarray:
    """Reads a text file of 0/1 values, `num_columns` per line, separated by blanks.

    Vectorised over the raw bytes, a few MB of whole lines at a time (the official
    Train_Tags1k.dat is 161,789 lines x 1,000 values, 324 MB). Trailing blank lines are
    ignored.

    Returns:
      uint8 array `[num_lines, num_columns]`.

    Raises:
      AnnotationError: the file is missing, holds anything but 0/1 and blanks, or a line
        has the wrong number of values (the line is named).
    """
    path = annotation_io.require_file(path, what, _LAYOUT_FIX)
    with open(path, "rb") as stream:
        buffer = np.frombuffer(stream.read(), dtype=np.uint8)
    if buffer.size == 0:
        return np.zeros((0, num_columns), dtype=np.uint8)
    line_ends = np.flatnonzero(buffer == _NEWLINE) + 1  # exclusive end of each line
    if buffer[-1] != _NEWLINE:
        line_ends = np.append(line_ends, buffer.size)
    counts, values = [], []  # per chunk: digits per line [lines], the digits [values]
    first_line = 0
    while first_line < line_ends.size:
        start = int(line_ends[first_line - 1]) if first_line else 0
        end_line = max(int(np.searchsorted(line_ends, start + _CHUNK_BYTES, side="right")),
                       first_line + 1)
        chunk = buffer[start : line_ends[end_line - 1]]
        digit_positions = np.flatnonzero(_check_matrix_chunk(chunk, first_line, path))
        # Digits before each line's end, by binary search over the sorted positions.
        digits_before = np.searchsorted(digit_positions, line_ends[first_line:end_line] - start)
        counts.append(np.diff(digits_before, prepend=0))
        values.append(chunk[digit_positions] - ord("0"))
        first_line = end_line
    digits_per_line = np.concatenate(counts)
    filled = np.flatnonzero(digits_per_line)
    num_lines = int(filled[-1]) + 1 if filled.size else 0  # drop trailing blank lines
    wrong = np.flatnonzero(digits_per_line[:num_lines] != num_columns)
    if wrong.size:
        line = int(wrong[0])
        problem = f"line {line + 1} has {digits_per_line[line]} values, expected {num_columns}"
        raise fail(path, problem, "Regenerate it; it must hold one row per image of its list.")
    return np.concatenate(values).reshape(num_lines, num_columns)


def photo_id_of(entry: str) -> int | None:
    """The Flickr photo id of a list entry: the digits after the last "_" of the file stem."""
    name = entry.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ = name.rpartition(".")
    digits = (stem if dot else name).rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else None


def _read_image_list(path: str) -> list[tuple[str, int]]:
    """(entry, photo id) per line of a NUS-WIDE image list; entries keep their backslashes.

    Raises:
      AnnotationError: a blank line inside the list, or an entry without a photo id.
    """
    lines = annotation_io.read_text_lines(path, "NUS-WIDE image list", _LAYOUT_FIX)
    while lines and not lines[-1].strip():
        lines.pop()
    entries = []
    for line_number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry:
            fix = "Remove the blank line; the files align line by line."
            raise fail(path, f"line {line_number} is blank", fix)
        photo_id = photo_id_of(entry)
        if photo_id is None:
            problem = f"line {line_number} ({entry!r}) has no photo id after its last '_'"
            fix = "Use the official list, whose entries look like actor\\0001_2124494179.jpg."
            raise fail(path, problem, fix)
        entries.append((entry, photo_id))
    return entries


def _require_rows(matrix: np.ndarray, matrix_path: str, list_path: str, num_entries: int) -> None:
    if matrix.shape[0] != num_entries:
        raise AnnotationError(
            f"{matrix_path}: has {matrix.shape[0]} lines but {list_path} has {num_entries}. "
            "The two files must align line by line; take both from the same NUS-WIDE release."
        )


def _image_dir_or_none(image_dir: str | None) -> str | None:
    if image_dir is None:
        return None
    if not os.path.isdir(image_dir):
        raise AnnotationError(
            f"{image_dir}: image directory not found. Pass the folder the list entries are "
            "relative to (the official Flickr/ folder), or no image directory."
        )
    return os.path.abspath(image_dir)


def _image_path(image_dir: str | None, entry: str) -> str | None:
    return os.path.join(image_dir, entry.replace("\\", "/")) if image_dir else None


def _read_official(nuswide_dir: str, concepts_file: str | None):
    """Reads the official layout; returns (label_names, tag_names, rows) before any image work.

    Each row is (photo id, entry, official split, label names, tag names), in list order.
    """
    concepts_file = concepts_file or os.path.join(nuswide_dir, "Concepts81.txt")
    label_names = annotation_io.read_name_list(concepts_file, "NUS-WIDE concept list", _LAYOUT_FIX)
    tags_dir = os.path.join(nuswide_dir, "NUS_WID_Tags")
    tag_names = []
    if os.path.isdir(tags_dir):
        tag_names = annotation_io.read_name_list(
            os.path.join(tags_dir, "TagList1k.txt"), "NUS-WIDE tag list", _LAYOUT_FIX
        )
    rows = []
    for part, official_split in _OFFICIAL_PARTS:
        list_path = os.path.join(nuswide_dir, "ImageList", f"{part}Imagelist.txt")
        entries = _read_image_list(list_path)
        labels = np.zeros((len(entries), len(label_names)), dtype=np.uint8)  # [images, concepts]
        for column, concept in enumerate(label_names):
            label_path = os.path.join(
                nuswide_dir, "Groundtruth", "TrainTestLabels", f"Labels_{concept}_{part}.txt"
            )
            concept_column = read_binary_matrix(label_path, 1, "NUS-WIDE ground-truth file")
            _require_rows(concept_column, label_path, list_path, len(entries))
            labels[:, column] = concept_column[:, 0]
        if tag_names:
            tags_path = os.path.join(tags_dir, f"{part}_Tags1k.dat")
            tags = read_binary_matrix(tags_path, len(tag_names), "NUS-WIDE Tag1K file")
            _require_rows(tags, tags_path, list_path, len(entries))
            row_tags = annotation_io.names_per_row(tags, tag_names)
        else:
            row_tags = [[] for _ in entries]
        row_labels = annotation_io.names_per_row(labels, label_names)
        for (entry, photo_id), entry_labels, entry_tags in zip(entries, row_labels, row_tags):
            rows.append((photo_id, entry, official_split, entry_labels, entry_tags))
    return label_names, tag_names, rows


def _read_annotations_json(path: str, concepts_file: str | None, tag_list_file: str | None):
    """Reads the per-image JSON; returns (label_names, tag_names, rows) like `_read_official`."""
    document = annotation_io.read_json(path, "NUS-WIDE annotations JSON", _JSON_FIX)
    if not isinstance(document, dict):
        raise fail(path, "the top level must be an object keyed by photo id", _JSON_FIX)
    records = []
    for key, record in document.items():
        where = f"[{key!r}]"
        photo_id = annotation_io.as_image_id(key, path, where, _JSON_FIX)
        annotation_io.require_keys(record, ["file", "concepts81"], path, where, _JSON_FIX)
        concepts = annotation_io.require_list(
            record["concepts81"], path, f"{where}['concepts81']", _JSON_FIX
        )
        tags = annotation_io.require_list(
            record.get("tags1k", []), path, f"{where}['tags1k']", _JSON_FIX
        )
        records.append((photo_id, str(record["file"]), set(concepts), set(tags)))
    if concepts_file:
        label_names = annotation_io.read_name_list(
            concepts_file, "NUS-WIDE concept list", _LAYOUT_FIX
        )
    else:
        label_names = sorted(set().union(*(concepts for _, _, concepts, _ in records)))
    if tag_list_file:
        tag_names = annotation_io.read_name_list(tag_list_file, "NUS-WIDE tag list", _LAYOUT_FIX)
    else:
        tag_names = sorted(set().union(*(tags for _, _, _, tags in records)))
    known_labels, known_tags = set(label_names), set(tag_names)
    rows = []
    for photo_id, file_name, concepts, tags in sorted(records, key=lambda record: record[0]):
        for names, known, kind, source in ((concepts, known_labels, "concepts81", concepts_file),
                                           (tags, known_tags, "tags1k", tag_list_file)):
            if not names <= known:
                problem = f"[{str(photo_id)!r}] has {kind} not in {source}: {sorted(names - known)}"
                raise fail(path, problem, "Pass the concept and tag lists the file was made with.")
        rows.append((photo_id, file_name, "train", [n for n in label_names if n in concepts],
                     [n for n in tag_names if n in tags]))
    return label_names, tag_names, rows


def read_nuswide(
    nuswide_dir: str | None = None,
    annotations_json: str | None = None,
    image_dir: str | None = None,
    splits: dict[int, str] | None = None,
    concepts_file: str | None = None,
    tag_list_file: str | None = None,
) -> SourceData:
    """Reads NUS-WIDE labels and tags from the official layout or a per-image JSON.

    Args:
      nuswide_dir: the official NUS-WIDE folder (layout in the module docstring).
      annotations_json: the per-image JSON instead of `nuswide_dir`.
      image_dir: folder the list entries (or "file" values) are relative to; None -> no paths.
      splits: photo id -> split name; it overrides the official split (e.g. moves part of
        the official train list to "val"). Unlisted images keep the official split, or
        "train" for the JSON input.
      concepts_file: the concept list (Concepts81.txt) fixing the label order; the JSON
        input defaults to the sorted union of its concepts.
      tag_list_file: the tag list (TagList1k.txt) for the JSON input; default the sorted
        union of its tags.

    Returns:
      Items sorted by photo id; `label_names` in the concept list's order.

    Raises:
      AnnotationError: not exactly one input, a missing or malformed file, or aligned files
        whose line counts differ (both files named).
    """
    if bool(nuswide_dir) == bool(annotations_json):
        raise AnnotationError(
            "NUS-WIDE needs exactly one of nuswide_dir (official layout) or annotations_json. "
            "Pass one of them."
        )
    if nuswide_dir:
        if not os.path.isdir(nuswide_dir):
            raise AnnotationError(f"{nuswide_dir}: NUS-WIDE folder not found. {_LAYOUT_FIX}")
        label_names, tag_names, rows = _read_official(nuswide_dir, concepts_file)
    else:
        label_names, tag_names, rows = _read_annotations_json(
            annotations_json, concepts_file, tag_list_file
        )
    image_dir = _image_dir_or_none(image_dir)

    by_id: dict[int, RawItem] = {}
    first_entry: dict[int, str] = {}
    skipped = []
    for photo_id, entry, default_split, labels, tags in rows:
        if photo_id in first_entry:
            reason = f"duplicate photo id (also {first_entry[photo_id]})"
            skipped.append({"id": photo_id, "kind": "image", "reason": reason})
            continue
        first_entry[photo_id] = entry
        if not labels:
            skipped.append({"id": photo_id, "kind": "image", "reason": "no labels"})
            continue
        by_id[photo_id] = RawItem(
            image_id=photo_id,
            source_id=entry.replace("\\", "/"),
            split=split_of(photo_id, splits, default=default_split),
            image_path=_image_path(image_dir, entry),
            labels=labels,
            tags=tags,
        )
    items = [by_id[photo_id] for photo_id in sorted(by_id)]
    return SourceData(items=items, label_names=label_names, tag_names=tag_names, skipped=skipped)
