"""One `RawItem` + vocabularies -> one serialised `tf.train.Example` (format: s_cnn_rnn/record_schema.py)."""

import dataclasses

import tensorflow as tf

from data_prep import vocab_builder
from data_prep.sources.base import RawItem
from s_cnn_rnn import record_schema
from s_cnn_rnn import tokenizer
from s_cnn_rnn.vocabulary import Vocabularies


@dataclasses.dataclass
class EncodedItem:
    """What encoding one item produced.

    Attributes:
      serialized: the serialised Example, or None when the whole item was skipped.
      skipped: skip records for the item or some of its captions
        ({"id", "kind", "reason"}), never silently dropped.
    """

    serialized: bytes | None
    skipped: list[dict]


def _bytes_feature(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int64_feature(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def encode_item(
    item: RawItem,
    vocabularies: Vocabularies,
    image: tuple[bytes, int, int] | None,
    require_captions: bool,
) -> EncodedItem:
    """Builds the Example for one image.

    Args:
      item: the image's annotations.
      vocabularies: built from the train split.
      image: (jpeg_bytes, height, width) from `data_prep.image_check`, or None for a
        captions-only record.
      require_captions: True for caption datasets: an image none of whose captions has a
        word is skipped (it could train nothing).

    Returns:
      The serialised Example (or None) and the skip records.
    """
    skipped = []
    caption_texts, caption_tokens = [], []
    for caption in item.captions:
        words = tokenizer.tokenize(caption)
        if not words:
            skipped.append(
                {"id": item.image_id, "kind": "caption", "reason": f"caption has no words: {caption!r}"}
            )
            continue
        caption_texts.append(caption.encode("utf-8"))
        caption_tokens.append(vocabularies.words.encode(words))
    if require_captions and not caption_tokens:
        skipped.append({"id": item.image_id, "kind": "image", "reason": "no caption with words"})
        return EncodedItem(None, skipped)

    feature = {
        record_schema.IMAGE_ID: _int64_feature([item.image_id]),
        record_schema.IMAGE_SOURCE_ID: _bytes_feature([item.source_id.encode("utf-8")]),
        record_schema.CAPTION_TEXT: _bytes_feature(caption_texts),
        record_schema.CAPTION_TOKEN_IDS: _int64_feature([t for tokens in caption_tokens for t in tokens]),
        record_schema.CAPTION_LENGTHS: _int64_feature([len(tokens) for tokens in caption_tokens]),
        record_schema.CONCEPT_INDICES: _int64_feature(
            vocab_builder.concept_indices(item.captions, vocabularies.concepts)
        ),
        record_schema.LABEL_SEQUENCE: _int64_feature(
            vocab_builder.label_sequence(item.labels, vocabularies.labels)
        ),
        record_schema.TAG_INDICES: _int64_feature(vocab_builder.tag_indices(item.tags, vocabularies.tags)),
    }
    if image is not None:
        jpeg_bytes, height, width = image
        feature[record_schema.IMAGE_ENCODED] = _bytes_feature([jpeg_bytes])
        feature[record_schema.IMAGE_FORMAT] = _bytes_feature([b"jpeg"])
        feature[record_schema.IMAGE_HEIGHT] = _int64_feature([height])
        feature[record_schema.IMAGE_WIDTH] = _int64_feature([width])
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return EncodedItem(example.SerializeToString(), skipped)
