"""What the records of a split say about each image, read without decoding any image.

Evaluation needs the reference captions as written (`caption/text`, for coco-caption), the
rare-first label sequence and the image's own name; the report also needs a few JPEGs, as
bytes. The input pipeline drops all of these, so they are read here straight from the shards
listed in `manifest.json` (see `s_cnn_rnn.record_schema` for the record keys).
"""

import dataclasses

import tensorflow as tf

from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import record_schema

# Records parsed per tf.io.parse_example call.
_PARSE_BATCH = 512
# Shards read round-robin when scanning for JPEGs, as the evaluation pipeline reads them
# (deterministic, at most 4 at once), so the first evaluated images are found first.
_SCAN_CYCLE_LENGTH = 4


@dataclasses.dataclass(frozen=True)
class RecordInfo:
    """One image of a split, as the converter stored it.

    Attributes:
      image_id: the dataset's numeric image id (`image/id`).
      source_id: the dataset's own name for the image (file name, photo id).
      captions: every reference caption, as written in the source.
      label_indices: indices into labels.txt, rare-first (ascending).
    """

    image_id: int
    source_id: str
    captions: tuple[str, ...]
    label_indices: tuple[int, ...]


def read_split(data_dir: str, split: str) -> list[RecordInfo]:
    """Every record of a split, in shard order, without touching the image bytes.

    Raises:
      FileNotFoundError, ValueError: see `data_dir.shard_paths`; ValueError too when two records
        share an image id (results are keyed by it).
    """
    full_spec = record_schema.parsing_spec(with_image=False)
    keys = (record_schema.IMAGE_ID, record_schema.IMAGE_SOURCE_ID, record_schema.CAPTION_TEXT, record_schema.LABEL_SEQUENCE)
    spec = {key: full_spec[key] for key in keys}
    records = tf.data.TFRecordDataset(data_dir_lib.shard_paths(data_dir, split)).batch(_PARSE_BATCH)
    infos: list[RecordInfo] = []
    seen: set[int] = set()
    for serialized in records:
        parsed = tf.io.parse_example(serialized, spec)
        captions = tf.RaggedTensor.from_sparse(parsed[record_schema.CAPTION_TEXT]).to_list()
        labels = tf.RaggedTensor.from_sparse(parsed[record_schema.LABEL_SEQUENCE]).to_list()
        for image_id, source_id, texts, label_indices in zip(
            parsed[record_schema.IMAGE_ID].numpy(), parsed[record_schema.IMAGE_SOURCE_ID].numpy(), captions, labels
        ):
            image_id = int(image_id)
            if image_id in seen:
                raise ValueError(
                    f"image id {image_id} occurs twice in split {split!r} of {data_dir}: results are keyed "
                    "by image id; re-convert the dataset"
                )
            seen.add(image_id)
            infos.append(RecordInfo(
                image_id=image_id,
                source_id=source_id.decode("utf-8", errors="replace"),
                captions=tuple(text.decode("utf-8", errors="replace") for text in texts),
                label_indices=tuple(int(index) for index in label_indices),
            ))
    return infos


def caption_references(records: list[RecordInfo]) -> dict[int, list[str]]:
    """image id -> its reference captions (what `score_captions` takes)."""
    return {record.image_id: list(record.captions) for record in records}


def read_encoded_images(data_dir: str, split: str, image_ids) -> dict[int, bytes]:
    """The stored JPEG bytes of the given images (not decoded); stops once all are found.

    Args:
      data_dir: the converter's output.
      split: the split holding the images.
      image_ids: the wanted `image/id`s.

    Returns:
      image id -> JPEG bytes, for the wanted ids that have an image (an id that is not in the
      split, or a captions-only record, is absent).
    """
    wanted = {int(image_id) for image_id in image_ids}
    paths = data_dir_lib.shard_paths(data_dir, split)
    if not paths or not wanted:
        return {}
    spec = {
        record_schema.IMAGE_ID: tf.io.FixedLenFeature([], tf.int64),
        record_schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    records = tf.data.Dataset.from_tensor_slices(paths).interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(paths), _SCAN_CYCLE_LENGTH))
    found: dict[int, bytes] = {}
    for serialized in records:
        if len(found) == len(wanted):
            break
        parsed = tf.io.parse_single_example(serialized, spec)
        image_id = int(parsed[record_schema.IMAGE_ID])
        encoded = parsed[record_schema.IMAGE_ENCODED].numpy()
        if image_id in wanted and encoded:
            found[image_id] = encoded
    return found
