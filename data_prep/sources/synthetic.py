"""Reader for the built-in synthetic dataset, written in the real datasets' own formats.

Layout of the generator's RAW directory (data_prep/synthetic/):
    RAW/images/synthetic_{id:06d}.jpg
    RAW/annotations/captions.json     COCO caption format
    RAW/annotations/instances.json    COCO instances format (the labels)
    RAW/annotations/user_tags.json    the tags as a COCO user-tag file (`coco_tags`; not read here)
    RAW/splits/{val,test}_ids.txt     image ids, one per line; all others are train
    RAW/nuswide/                      official NUS-WIDE layout (the Tag1K tags), list
                                      entries `images\\synthetic_000001.jpg`, photo id = image id

The real readers parse each part, so the demo exercises the same code as COCO and NUS-WIDE.
"""

import os

from data_prep.sources import coco, nuswide, splits as splits_lib
from data_prep.sources.base import AnnotationError, RawItem, SourceData


def read_synthetic(raw_dir: str) -> SourceData:
    """Reads captions, labels and tags of the synthetic dataset and merges them by image id.

    Args:
      raw_dir: the generator's output directory (layout in the module docstring).

    Returns:
      One item per image that any part describes, sorted by image id, with its captions,
      labels (COCO category order) and tags (tag-list order); `label_names` from the
      instances file, `tag_names` from the NUS-WIDE tag list. Splits come from RAW/splits.

    Raises:
      AnnotationError: a missing or malformed annotation file in any part.
    """
    if not os.path.isdir(raw_dir):
        raise AnnotationError(
            f"{raw_dir}: synthetic dataset folder not found. Generate it first "
            "(data_prep.synthetic) or point at the folder it wrote."
        )
    split_dir = os.path.join(raw_dir, "splits")
    val_ids, test_ids = (os.path.join(split_dir, f"{name}_ids.txt") for name in ("val", "test"))
    splits = splits_lib.parse_splits_flag(f"val:{val_ids},test:{test_ids}")
    image_dirs = [os.path.join(raw_dir, "images")]
    annotations_dir = os.path.join(raw_dir, "annotations")
    captioned = coco.read_coco_captions(
        [os.path.join(annotations_dir, "captions.json")], image_dirs, splits
    )
    labelled = coco.read_coco_multilabel(
        instances_json=[os.path.join(annotations_dir, "instances.json")],
        image_dirs=image_dirs,
        splits=splits,
    )
    tagged = nuswide.read_nuswide(
        nuswide_dir=os.path.join(raw_dir, "nuswide"), image_dir=raw_dir, splits=splits
    )

    merged: dict[int, RawItem] = {}
    for part in (captioned, labelled, tagged):
        for item in part.items:
            if item.image_id not in merged:
                merged[item.image_id] = RawItem(
                    image_id=item.image_id,
                    source_id=item.source_id.rsplit("/", 1)[-1],
                    split=splits_lib.split_of(item.image_id, splits),
                    image_path=item.image_path,
                )
            target = merged[item.image_id]
            target.captions = target.captions or item.captions
            target.labels = target.labels or item.labels
            target.tags = target.tags or item.tags

    # An image one part skipped but another kept is not lost: keep only skips of images
    # that no part kept, and every dropped caption.
    skipped, seen = [], set()
    for part in (captioned, labelled, tagged):
        for entry in part.skipped:
            key = (entry["id"], entry["kind"], entry["reason"])
            if key in seen or (entry["kind"] == "image" and entry["id"] in merged):
                continue
            seen.add(key)
            skipped.append(entry)
    return SourceData(
        items=[merged[image_id] for image_id in sorted(merged)],
        label_names=labelled.label_names,
        tag_names=tagged.tag_names,
        skipped=skipped,
    )
