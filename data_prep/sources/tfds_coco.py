"""Reader for an already prepared local TFDS `coco_captions` dataset (Karpathy splits).

It never downloads: the dataset must have been prepared beforehand, e.g. on a machine
with internet access, with `tfds build coco_captions --data_dir=DIR`, and DIR copied here.
The stored JPEG bytes are written out unchanged as files, so the rest of the converter
treats them like any other image on disk.
"""

import os

from data_prep.sources import annotation_io
from s_cnn_rnn import atomic_files
from data_prep.sources.base import AnnotationError, RawItem, SourceData

DATASET_NAME = "coco_captions"
# TFDS's Karpathy splits -> ours. "restval" (the rest of val2014) trains, as is customary.
SPLIT_MAP = {"train": "train", "restval": "train", "val": "val", "test": "test"}

_PREPARE_FIX = (
    "Prepare it on a machine with internet access with `tfds build coco_captions "
    "--data_dir=DIR` (it downloads all of COCO 2014), copy DIR here and pass it as the data dir; "
    "this reader never downloads."
)


def load_prepared_builder(data_dir: str):
    """Returns the TFDS builder of a prepared `coco_captions` under `data_dir`.

    Raises:
      AnnotationError: the folder, the dataset's metadata, a split or a shard file is missing.
    """
    import tensorflow_datasets as tfds  # heavy; only this reader needs it

    if not data_dir or not os.path.isdir(data_dir):
        raise AnnotationError(f"{data_dir}: TFDS data dir not found. {_PREPARE_FIX}")
    try:
        builder = tfds.builder(DATASET_NAME, data_dir=data_dir, try_gcs=False)
    except Exception as error:  # tfds raises many types for unreadable metadata
        raise AnnotationError(
            f"{data_dir}: cannot open the TFDS {DATASET_NAME} dataset ({error}). {_PREPARE_FIX}"
        ) from None
    if not builder.is_prepared():
        raise AnnotationError(
            f"{builder.data_dir}: no prepared {DATASET_NAME} dataset (dataset_info.json is "
            f"missing). {_PREPARE_FIX}"
        )
    for split_name in SPLIT_MAP:
        if split_name not in builder.info.splits:
            raise AnnotationError(
                f"{builder.data_dir}: the prepared {DATASET_NAME} has no {split_name!r} split. "
                f"{_PREPARE_FIX}"
            )
        for shard in builder.info.splits[split_name].filepaths:
            if not os.path.isfile(os.fspath(shard)):
                raise AnnotationError(f"{shard}: shard file missing. {_PREPARE_FIX}")
    return builder


def _write_atomically(path: str, data: bytes) -> None:
    """Writes `data` to `path` unless an identical-size file is there (a resumed run)."""
    if os.path.isfile(path) and os.path.getsize(path) == len(data):
        return
    atomic_files.write_bytes(path, data)


def read_builder(builder, image_out_dir: str) -> SourceData:
    """Reads every Karpathy split of a prepared builder, writing each image to `image_out_dir`.

    Args:
      builder: a prepared `coco_captions` builder (see `load_prepared_builder`).
      image_out_dir: folder receiving `<image/filename>` JPEG files; created if needed.

    Returns:
      Items sorted by image id; captions that are not valid UTF-8 or empty are dropped,
      and images left without captions are skipped.
    """
    import tensorflow_datasets as tfds

    os.makedirs(image_out_dir, exist_ok=True)
    image_out_dir = os.path.abspath(image_out_dir)
    # Only the fields used here; the image stays encoded (its bytes are the JPEG file).
    decoders = tfds.decode.PartialDecoding(
        {"image": True, "image/filename": True, "image/id": True, "captions": True},
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    items: dict[int, RawItem] = {}
    skipped = []
    for tfds_split, split in SPLIT_MAP.items():
        dataset = builder.as_dataset(split=tfds_split, decoders=decoders, shuffle_files=False)
        for example in tfds.as_numpy(dataset):
            image_id = int(example["image/id"])
            file_name = os.path.basename(example["image/filename"].decode("utf-8"))
            if image_id in items:
                reason = f"duplicate image id (also in {items[image_id].split})"
                skipped.append({"id": image_id, "kind": "image", "reason": reason})
                continue
            captions = []
            for raw in example["captions"]["text"].tolist():
                text = raw.decode("utf-8", errors="surrogateescape")
                if not annotation_io.is_valid_utf8_text(text):
                    reason = "caption is not valid UTF-8"
                elif not text.strip():
                    reason = "empty caption"
                else:
                    captions.append(text)
                    continue
                skipped.append({"id": image_id, "kind": "caption", "reason": reason})
            if not captions:
                skipped.append({"id": image_id, "kind": "image", "reason": "no captions"})
                continue
            image_path = os.path.join(image_out_dir, file_name)
            _write_atomically(image_path, example["image"])
            items[image_id] = RawItem(
                image_id=image_id,
                source_id=file_name,
                split=split,
                image_path=image_path,
                captions=captions,
            )
    return SourceData(items=[items[i] for i in sorted(items)], skipped=skipped)


def read_tfds_coco_captions(data_dir: str, image_out_dir: str) -> SourceData:
    """Reads a prepared local TFDS `coco_captions` into items with images on disk.

    Args:
      data_dir: the TFDS data dir holding `coco_captions/2014/<version>/`.
      image_out_dir: folder the images are written to as JPEG files.

    Returns:
      Items sorted by image id; Karpathy train and restval -> "train", val -> "val",
      test -> "test".

    Raises:
      AnnotationError: the prepared dataset is missing (nothing is downloaded).
    """
    builder = load_prepared_builder(data_dir)
    return read_builder(builder, image_out_dir)
