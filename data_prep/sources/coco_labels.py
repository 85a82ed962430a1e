"""The three COCO multi-label ground-truth formats, each read into one `LabelTable`.

- the official instances JSON(s) (`instances_train2014.json`, ...): an image's labels are
  the categories of its object annotations;
- our simple per-image JSON: `{"names": [...], "category_id": [...], "labels": {id: [names]}}`;
- the npz of the 80-class ground truth: arrays `image_id [N]`, `split [N]`
  (train2014/val2014), `labels [N, 80]` (0/1), `names [80]`, `category_id [80]`.

Label names are always in COCO category-id order, the dataset's own order.
"""

import dataclasses
import zipfile

import numpy as np

from data_prep.sources import annotation_io
from data_prep.sources.annotation_io import fail

_INSTANCES_FIX = (
    "Pass an official COCO instances file (instances_train2014.json, instances_val2014.json)."
)
_SIMPLE_FIX = (
    'Write it as {"names": [...], "category_id": [...], "labels": {"<image id>": [names]}}.'
)
_NPZ_FIX = (
    "Pass an npz with arrays image_id [N], labels [N, C], names [C] "
    "(and optionally split [N], category_id [C])."
)


@dataclasses.dataclass
class LabelTable:
    """Ground truth of one COCO multi-label file set.

    Attributes:
      label_names: category names in category-id order.
      labels: image id -> its label names, in `label_names` order (may be empty).
      file_names: image id -> image file name, where the format records one.
      source_splits: image id -> the COCO image set ("train2014"/"val2014"), where known.
      skipped: entries for annotations that could not be attached to an image.
    """

    label_names: list[str]
    labels: dict[int, list[str]]
    file_names: dict[int, str] = dataclasses.field(default_factory=dict)
    source_splits: dict[int, str] = dataclasses.field(default_factory=dict)
    skipped: list[dict] = dataclasses.field(default_factory=list)


def _names_in_category_order(names, category_ids, path: str, fix: str) -> list[str]:
    """Validates a name list (and optional parallel category ids); returns names by category id."""
    if not names or not all(isinstance(name, str) and name for name in names):
        raise fail(path, "the label names must be a non-empty list of non-empty strings", fix)
    if len(set(names)) != len(names):
        raise fail(path, "the label names contain a duplicate", fix)
    if category_ids is None:
        return list(names)
    if len(category_ids) != len(names) or not all(
        isinstance(cid, int) and not isinstance(cid, bool) for cid in category_ids
    ):
        raise fail(path, "'category_id' must be one integer per label name", fix)
    if len(set(category_ids)) != len(category_ids):
        raise fail(path, "'category_id' contains a duplicate id", fix)
    return [name for _, name in sorted(zip(category_ids, names))]


def _in_label_order(names: set[str], label_names: list[str]) -> list[str]:
    return [name for name in label_names if name in names]


def _read_categories(document: dict, path: str) -> dict[int, str]:
    """category id -> name, from one instances file's "categories"."""
    categories = {}
    entries = annotation_io.require_list(
        document["categories"], path, "'categories'", _INSTANCES_FIX
    )
    for index, category in enumerate(entries):
        where = f"categories[{index}]"
        annotation_io.require_keys(category, ["id", "name"], path, where, _INSTANCES_FIX)
        categories[category["id"]] = category["name"]
    return categories


def read_instances(paths: list[str]) -> LabelTable:
    """Reads official COCO instances JSON files (several image sets may be given).

    Raises:
      AnnotationError: a file is missing or malformed, the files disagree on the
        categories, or an annotation names an unknown category.
    """
    documents = [
        (path, annotation_io.read_json(path, "COCO instances JSON", _INSTANCES_FIX))
        for path in paths
    ]
    categories: dict[int, str] = {}
    categories_file = ""
    file_names: dict[int, str] = {}
    label_ids: dict[int, set[int]] = {}  # image id -> category ids of its annotations
    for path, document in documents:
        annotation_io.require_keys(
            document, ["images", "annotations", "categories"], path, "the top level", _INSTANCES_FIX
        )
        these_categories = _read_categories(document, path)
        if not categories_file:
            categories, categories_file = these_categories, path
        elif these_categories != categories:
            raise fail(
                path,
                f"its categories differ from those in {categories_file}",
                "Pass instances files of one COCO release.",
            )
        images = annotation_io.require_list(document["images"], path, "'images'", _INSTANCES_FIX)
        for index, image in enumerate(images):
            where = f"images[{index}]"
            annotation_io.require_keys(image, ["id", "file_name"], path, where, _INSTANCES_FIX)
            image_id = annotation_io.as_image_id(image["id"], path, where, _INSTANCES_FIX)
            file_names[image_id] = str(image["file_name"])
            label_ids.setdefault(image_id, set())
    label_names = _names_in_category_order(
        list(categories.values()), list(categories.keys()), categories_file, _INSTANCES_FIX
    )

    skipped, unknown_images = [], set()
    for path, document in documents:
        annotations = annotation_io.require_list(
            document["annotations"], path, "'annotations'", _INSTANCES_FIX
        )
        for index, annotation in enumerate(annotations):
            where = f"annotations[{index}]"
            annotation_io.require_keys(
                annotation, ["image_id", "category_id"], path, where, _INSTANCES_FIX
            )
            image_id = annotation_io.as_image_id(
                annotation["image_id"], path, where, _INSTANCES_FIX
            )
            category_id = annotation["category_id"]
            if category_id not in categories:
                problem = f"{where} has category_id {category_id!r}, not in 'categories'"
                raise fail(path, problem, _INSTANCES_FIX)
            if image_id in label_ids:
                label_ids[image_id].add(category_id)
            elif image_id not in unknown_images:
                unknown_images.add(image_id)
                reason = "annotations for an image id not in 'images'"
                skipped.append({"id": image_id, "kind": "image", "reason": reason})

    labels = {
        image_id: _in_label_order({categories[c] for c in ids}, label_names)
        for image_id, ids in label_ids.items()
    }
    source_splits = {}
    for image_id, name in file_names.items():
        for image_set in ("train2014", "val2014"):
            if image_set in name:
                source_splits[image_id] = image_set
    return LabelTable(label_names, labels, file_names, source_splits, skipped)


def read_simple_json(path: str) -> LabelTable:
    """Reads our per-image label JSON (see the module docstring).

    Raises:
      AnnotationError: missing file, missing keys, or a label not in "names".
    """
    document = annotation_io.read_json(path, "label JSON", _SIMPLE_FIX)
    annotation_io.require_keys(document, ["names", "labels"], path, "the top level", _SIMPLE_FIX)
    names = annotation_io.require_list(document["names"], path, "'names'", _SIMPLE_FIX)
    category_ids = document.get("category_id")
    if category_ids is not None:
        annotation_io.require_list(category_ids, path, "'category_id'", _SIMPLE_FIX)
    label_names = _names_in_category_order(names, category_ids, path, _SIMPLE_FIX)
    if not isinstance(document["labels"], dict):
        problem = "'labels' must be an object mapping image id to a list of names"
        raise fail(path, problem, _SIMPLE_FIX)
    known = set(label_names)
    labels = {}
    for key, image_labels in document["labels"].items():
        where = f"labels[{key!r}]"
        image_id = annotation_io.as_image_id(key, path, where, _SIMPLE_FIX)
        annotation_io.require_list(image_labels, path, where, _SIMPLE_FIX)
        unknown = [name for name in image_labels if name not in known]
        if unknown:
            raise fail(path, f"{where} has labels not in 'names': {unknown}", _SIMPLE_FIX)
        labels[image_id] = _in_label_order(set(image_labels), label_names)
    return LabelTable(label_names, labels)


def read_npz(path: str) -> LabelTable:
    """Reads the multi-label npz (see the module docstring).

    Raises:
      AnnotationError: missing or unreadable file, missing arrays, or shapes that disagree.
    """
    path = annotation_io.require_file(path, "label npz", _NPZ_FIX)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise fail(path, f"cannot read the npz ({error})", _NPZ_FIX) from None
    missing = [key for key in ("image_id", "labels", "names") if key not in arrays]
    if missing:
        raise fail(path, f"the npz has no array {', '.join(missing)}", _NPZ_FIX)
    image_ids, matrix = arrays["image_id"], arrays["labels"]
    names = [str(name) for name in arrays["names"].tolist()]
    if image_ids.ndim != 1 or not np.issubdtype(image_ids.dtype, np.integer):
        problem = f"'image_id' must be a 1-D integer array, got {image_ids.dtype} {image_ids.shape}"
        raise fail(path, problem, _NPZ_FIX)
    if matrix.shape != (len(image_ids), len(names)):
        problem = f"'labels' has shape {matrix.shape}, expected ({len(image_ids)}, {len(names)})"
        raise fail(path, problem, _NPZ_FIX)
    if len(np.unique(image_ids)) != len(image_ids):
        raise fail(path, "'image_id' contains a duplicate id", _NPZ_FIX)
    category_ids = arrays["category_id"].tolist() if "category_id" in arrays else None
    label_names = _names_in_category_order(names, category_ids, path, _NPZ_FIX)
    column_order = [names.index(name) for name in label_names]
    set_names = arrays["split"].tolist() if "split" in arrays else [None] * len(image_ids)
    if len(set_names) != len(image_ids):
        problem = f"'split' has {len(set_names)} entries, expected {len(image_ids)}"
        raise fail(path, problem, _NPZ_FIX)
    row_labels = annotation_io.names_per_row(matrix[:, column_order] != 0, label_names)
    labels, source_splits, file_names = {}, {}, {}
    for image_id, names_of_image, set_name in zip(image_ids.tolist(), row_labels, set_names):
        labels[image_id] = names_of_image
        if set_name is not None:
            source_splits[image_id] = str(set_name)
            if set_name in ("train2014", "val2014"):
                file_names[image_id] = f"COCO_{set_name}_{image_id:012d}.jpg"
    return LabelTable(label_names, labels, file_names, source_splits)
