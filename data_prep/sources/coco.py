"""COCO readers: captions (COCO caption JSON) and 80-class multi-label ground truth.

Readers never open an image: they only compute where it should be (`image_path`) and
record what the annotations themselves show to be unusable.
"""

import dataclasses
import os
import re
from collections.abc import Sequence

from data_prep.sources import annotation_io, coco_labels, coco_tags
from data_prep.sources.annotation_io import fail
from data_prep.sources.base import AnnotationError, RawItem, SourceData
from data_prep.sources.splits import split_of

_CAPTIONS_FIX = (
    'Pass a COCO caption file (captions_train2014.json): {"images": [{"id", "file_name"}], '
    '"annotations": [{"image_id", "caption"}]}.'
)
# The COCO image id is the number at the end of the file stem: COCO_val2014_000000027440.jpg.
_TRAILING_ID = re.compile(r"(\d+)$")


class ImageLocator:
    """Finds image files by name in an ordered list of directories, without opening them.

    Each directory is listed once (a stat per image would be slow on network disks).
    """

    def __init__(self, image_dirs: Sequence[str] | None):
        """Args: image_dirs: directories searched in order; None or [] -> no image paths.

        Raises:
          AnnotationError: a directory does not exist.
        """
        self._dirs = [os.path.abspath(d) for d in annotation_io.as_path_list(image_dirs)]
        for directory in self._dirs:
            if not os.path.isdir(directory):
                raise AnnotationError(
                    f"{directory}: image directory not found. Pass the folder that holds the "
                    "image files (e.g. .../train2014), or no image directory for captions-only "
                    "records."
                )
        self._listings: dict[str, set[str]] = {}
        self._by_id: dict[int, str] | None = None

    def _listing(self, directory: str) -> set[str]:
        if directory not in self._listings:
            self._listings[directory] = set(os.listdir(directory))
        return self._listings[directory]

    def path(self, file_name: str) -> str | None:
        """Absolute path of `file_name` in the first directory that has it.

        If none has it, the path in the first directory (the image check then reports the
        file as missing); None when no directories were given.
        """
        if not self._dirs:
            return None
        for directory in self._dirs:
            if os.sep in file_name or "/" in file_name:
                if os.path.isfile(os.path.join(directory, file_name)):
                    return os.path.join(directory, file_name)
            elif file_name in self._listing(directory):
                return os.path.join(directory, file_name)
        return os.path.join(self._dirs[0], file_name)

    def file_name_for_id(self, image_id: int) -> str | None:
        """The file whose stem ends in `image_id` (COCO_val2014_000000027440.jpg), if any."""
        if self._by_id is None:
            self._by_id = {}
            for directory in self._dirs:
                for name in sorted(self._listing(directory)):
                    match = _TRAILING_ID.search(os.path.splitext(name)[0])
                    if match:
                        self._by_id.setdefault(int(match.group(1)), name)
        return self._by_id.get(image_id)


@dataclasses.dataclass
class CaptionTable:
    """Captions of one or more COCO caption files.

    Attributes:
      file_names: image id -> file name, for every image in "images".
      captions: image id -> its usable captions, in file order.
      skipped: dropped captions ({"id": image id, "kind": "caption", "reason"}).
      repeated: captions that occur more than once for one image ({"id", "caption", "times"}).
    """

    file_names: dict[int, str]
    captions: dict[int, list[str]]
    skipped: list[dict]
    repeated: list[dict] = dataclasses.field(default_factory=list)


def read_caption_table(captions_json: str | Sequence[str]) -> CaptionTable:
    """Reads and validates COCO caption JSON files (train2014 and val2014 may both be given).

    Raises:
      AnnotationError: a file is missing, is not JSON, lacks a key, or gives one image id
        two different file names.
    """
    paths = annotation_io.as_path_list(captions_json)
    if not paths:
        raise AnnotationError(f"no COCO captions JSON given. {_CAPTIONS_FIX}")
    documents = [
        (path, annotation_io.read_json(path, "COCO captions JSON", _CAPTIONS_FIX)) for path in paths
    ]
    file_names: dict[int, str] = {}
    file_name_origin: dict[int, str] = {}
    for path, document in documents:
        annotation_io.require_keys(
            document, ["images", "annotations"], path, "the top level", _CAPTIONS_FIX
        )
        images = annotation_io.require_list(document["images"], path, "'images'", _CAPTIONS_FIX)
        for index, image in enumerate(images):
            where = f"images[{index}]"
            annotation_io.require_keys(image, ["id", "file_name"], path, where, _CAPTIONS_FIX)
            image_id = annotation_io.as_image_id(image["id"], path, where, _CAPTIONS_FIX)
            file_name = image["file_name"]
            if not isinstance(file_name, str) or not file_name:
                raise fail(path, f"{where} has file_name {file_name!r}", _CAPTIONS_FIX)
            if file_names.get(image_id, file_name) != file_name:
                raise fail(
                    path,
                    f"image id {image_id} is {file_name!r} here but "
                    f"{file_names[image_id]!r} in {file_name_origin[image_id]}",
                    "Pass caption files of one COCO release.",
                )
            file_names[image_id] = file_name
            file_name_origin[image_id] = path

    captions: dict[int, list[str]] = {}
    skipped = []
    for path, document in documents:
        annotations = annotation_io.require_list(
            document["annotations"], path, "'annotations'", _CAPTIONS_FIX
        )
        for index, annotation in enumerate(annotations):
            where = f"annotations[{index}]"
            annotation_io.require_keys(
                annotation, ["image_id", "caption"], path, where, _CAPTIONS_FIX
            )
            image_id = annotation_io.as_image_id(annotation["image_id"], path, where, _CAPTIONS_FIX)
            caption = annotation["caption"]
            if not isinstance(caption, str):
                problem = f"{where} has a caption of type {type(caption).__name__}"
                raise fail(path, problem, _CAPTIONS_FIX)
            reason = None
            if image_id not in file_names:
                reason = "caption of an image id not in 'images'"
            elif not annotation_io.is_valid_utf8_text(caption):
                reason = "caption is not valid UTF-8"
            elif not caption.strip():
                reason = "empty caption"
            if reason:
                skipped.append({"id": image_id, "kind": "caption", "reason": reason})
                continue
            captions.setdefault(image_id, []).append(caption)
    return CaptionTable(file_names, captions, skipped, _repeated_captions(captions))


def _repeated_captions(captions: dict[int, list[str]]) -> list[dict]:
    """{"id", "caption", "times"} of every caption that occurs more than once for its image."""
    repeated = []
    for image_id in sorted(captions):
        counts = {}
        for caption in captions[image_id]:
            counts[caption] = counts.get(caption, 0) + 1
        repeated += [{"id": image_id, "caption": caption, "times": times}
                     for caption, times in counts.items() if times > 1]
    return repeated


def read_coco_captions(
    captions_json: str | Sequence[str],
    image_dirs: Sequence[str] | None = None,
    splits: dict[int, str] | None = None,
) -> SourceData:
    """Reads COCO caption annotations into one item per image with at least one caption.

    Args:
      captions_json: one or more COCO caption JSON files (e.g. train2014 and val2014).
      image_dirs: folders searched in order for each `file_name`; None -> captions-only
        items (`image_path` None).
      splits: image id -> split name (from `--splits`); unlisted images are "train".

    Returns:
      Items sorted by image id; images left without a caption are skipped ("no captions").

    Raises:
      AnnotationError: a missing or malformed caption file, or a missing image directory.
    """
    table = read_caption_table(captions_json)
    locator = ImageLocator(image_dirs)
    items, skipped = [], list(table.skipped)
    for image_id in sorted(table.file_names):
        captions = table.captions.get(image_id, [])
        if not captions:
            skipped.append({"id": image_id, "kind": "image", "reason": "no captions"})
            continue
        file_name = table.file_names[image_id]
        items.append(
            RawItem(
                image_id=image_id,
                source_id=file_name,
                split=split_of(image_id, splits),
                image_path=locator.path(file_name),
                captions=captions,
            )
        )
    return SourceData(items=items, skipped=skipped, repeated=table.repeated)


def _default_multilabel_split(source_split: str | None, file_name: str | None) -> str:
    """SPEC D3: train2014 trains, val2014 is the evaluation set ("test")."""
    image_set = source_split or ""
    if not image_set and file_name:
        if "val2014" in file_name:
            image_set = "val2014"
        elif "train2014" in file_name:
            image_set = "train2014"
    if image_set == "val2014":
        return "test"
    if image_set in ("", "train2014"):
        return "train"
    return image_set  # an npz split column already holding our split names


def read_coco_multilabel(
    instances_json: str | Sequence[str] | None = None,
    labels_json: str | None = None,
    labels_npz: str | None = None,
    image_dirs: Sequence[str] | None = None,
    splits: dict[int, str] | None = None,
    captions_json: str | Sequence[str] | None = None,
    user_tags_json: str | None = None,
) -> SourceData:
    """Reads 80-class COCO multi-label ground truth from exactly one of three formats.

    Args:
      instances_json: official COCO instances JSON file(s).
      labels_json: our per-image label JSON (format: `coco_labels` module docstring).
      labels_npz: the 80-class multi-label npz (format: `coco_labels` module docstring).
      image_dirs: folders searched in order for each image; None -> `image_path` None.
      splits: image id -> split name; when None or empty, train2014 images are "train"
        and val2014 images "test" (SPEC D3), other images "train".
      captions_json: optional COCO caption file(s) whose captions are merged into the
        items, so one record serves both tasks; it also supplies file names the label
        format lacks.
      user_tags_json: optional Flickr user tags `{image_id: [tag, ...]}` (`coco_tags`): each
        item's `tags`, none for an id the file lacks; `tag_names` = every tag, alphabetical.

    Returns:
      Items sorted by image id; images without any label are skipped ("no labels").

    Raises:
      AnnotationError: not exactly one label source, or a missing or malformed file.
    """
    sources = {
        "instances_json": instances_json, "labels_json": labels_json, "labels_npz": labels_npz
    }
    given = [name for name, value in sources.items() if value]
    if len(given) != 1:
        raise AnnotationError(
            f"COCO multi-label needs exactly one of instances_json, labels_json, labels_npz; "
            f"got {given or 'none'}. Pass one label source."
        )
    if instances_json:
        table = coco_labels.read_instances(annotation_io.as_path_list(instances_json))
    elif labels_json:
        table = coco_labels.read_simple_json(labels_json)
    else:
        table = coco_labels.read_npz(labels_npz)
    captions = read_caption_table(captions_json) if captions_json else None
    user_tags = coco_tags.read_user_tags(user_tags_json) if user_tags_json else {}
    locator = ImageLocator(image_dirs)

    items, skipped = [], list(table.skipped)
    if captions:
        skipped.extend(captions.skipped)
    for image_id in sorted(table.labels):
        labels = table.labels[image_id]
        if not labels:
            skipped.append({"id": image_id, "kind": "image", "reason": "no labels"})
            continue
        file_name = (
            table.file_names.get(image_id)
            or (captions.file_names.get(image_id) if captions else None)
            or locator.file_name_for_id(image_id)
        )
        if splits:
            split = split_of(image_id, splits)
        else:
            split = _default_multilabel_split(table.source_splits.get(image_id), file_name)
        items.append(
            RawItem(
                image_id=image_id,
                source_id=file_name or str(image_id),
                split=split,
                image_path=locator.path(file_name or str(image_id)),
                captions=list(captions.captions.get(image_id, [])) if captions else [],
                labels=labels,
                tags=list(user_tags.get(image_id, [])),
            )
        )
    tag_names = sorted({tag for item in items for tag in item.tags})
    return SourceData(items=items, label_names=table.label_names, tag_names=tag_names,
                      skipped=skipped, repeated=captions.repeated if captions else [])
