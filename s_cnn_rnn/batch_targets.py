"""The per-batch half of the input pipeline: parsed records -> the batch dict (`input_pipeline`'s doc).

Vectorised over the batch with plain dense ops on the parsed SparseTensors' flat values
(ragged-tensor ops cost several times more small ops per batch): multi-hot concepts, labels and
tags, the sampled caption (or every caption), <start>/<end> framing and padding. Pure TF.
"""

import tensorflow as tf

from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import record_schema
from s_cnn_rnn import tasks

SEQUENCE_KEYS = ("input_ids", "target_ids", "target_mask")
CAPTION_RANDOM = "caption_random"  # int64 [0, 2^32) per record, for the caption choice


def _row_ids(indices: tf.SparseTensor) -> tf.Tensor:
    return indices.indices[:, 0]


def _multi_hot(indices: tf.SparseTensor, depth: int, what: str) -> tf.Tensor:
    """Sparse `[B, n]` indices -> float32 `[B, depth]` multi-hot, with a clear range check."""
    values = indices.values
    check = tf.debugging.assert_less(
        values, tf.constant(depth, tf.int64), message=f"{what} index out of range (>= {depth}): the "
        f"records and vocab/ come from different conversions; {data_dir_lib.CONVERT_HINT} again",
    )
    with tf.control_dependencies([check]):
        positions = tf.stack([_row_ids(indices), values], axis=1)
    hits = tf.scatter_nd(positions, tf.ones_like(values, tf.float32), [indices.dense_shape[0], depth])
    return tf.minimum(hits, 1.0)  # a repeated index still means "present"


def _count_per_row(indices: tf.SparseTensor) -> tf.Tensor:
    """int64 `[B]`: how many values each row of a sparse `[B, n]` tensor has."""
    num_rows = tf.cast(indices.dense_shape[0], tf.int32)
    return tf.math.unsorted_segment_sum(tf.ones_like(indices.values), _row_ids(indices), num_rows)


def _caption_spans(parsed: dict, config):
    """Where the batch's captions lie in the flat token ids.

    Returns:
      int64 `[R]` start offsets, `[R]` lengths and `[R]` image (batch row) of each
      sequence: one sampled caption per image ("sample", R = B; length 0 for an image
      without captions) or every caption ("all", R = captions in the batch).
    """
    tokens, lengths = parsed[record_schema.CAPTION_TOKEN_IDS], parsed[record_schema.CAPTION_LENGTHS]
    num_rows = tf.cast(lengths.dense_shape[0], tf.int32)
    check = tf.debugging.assert_equal(
        tf.math.unsorted_segment_sum(lengths.values, _row_ids(lengths), num_rows), _count_per_row(tokens),
        message="caption/lengths does not sum to len(caption/token_ids): corrupt record",
    )
    with tf.control_dependencies([check]):
        starts = tf.cumsum(lengths.values, exclusive=True)  # [C]; valid because the sums match
    if config.captions == "all":
        return starts, lengths.values, _row_ids(lengths)
    num_captions = _count_per_row(lengths)  # [B]
    # The record's own 32 random bits (Dataset.random) -> uniform [0, 1), so the choice
    # travels with the record (also across `skip_examples`).
    uniform = tf.cast(tf.bitwise.bitwise_and(parsed[CAPTION_RANDOM], 2**32 - 1), tf.float64) / 2.0**32
    offset = tf.minimum(tf.cast(uniform * tf.cast(num_captions, tf.float64), tf.int64), num_captions - 1)
    chosen = tf.maximum(tf.cumsum(num_captions, exclusive=True) + offset, 0)  # [B]

    def pick(values):  # one trailing 0 so that a batch with no caption at all still gathers
        return tf.where(num_captions > 0, tf.gather(tf.concat([values, [0]], 0), chosen), 0)

    return pick(starts), pick(lengths.values), tf.range(tf.size(num_captions, out_type=tf.int64))


def _frame(flat_tokens, starts, lengths, config) -> dict:
    """Spans of a flat token array -> dense input ids, target ids and mask `[R, T]`.

    input_ids = <start> + tokens, target_ids = tokens + <end>, both zero-padded; tokens are
    truncated to `max_caption_length`. T = the longest framed sequence (or the fixed
    `max_caption_length + 1` with `pad_to_max_length`).
    """
    lengths = tf.minimum(lengths, config.max_caption_length)[:, None]  # [R, 1]
    if config.pad_to_max_length:
        length = config.max_caption_length + 1
    else:
        length = tf.reduce_max(tf.concat([lengths[:, 0], [0]], 0)) + 1
    positions = tf.range(length, dtype=tf.int64)[None, :]  # [1, T]
    padded_tokens = tf.cast(tf.concat([flat_tokens, [0]], 0), tf.int32)  # never empty
    last = tf.size(padded_tokens, out_type=tf.int64) - 1

    def token_at(shift):  # [R, T] token at each position; the where()s below keep the real ones
        return tf.gather(padded_tokens, tf.clip_by_value(starts[:, None] + positions + shift, 0, last))

    zeros = tf.zeros_like(positions + lengths, tf.int32)  # [R, T]
    input_ids = tf.where(positions == 0, record_schema.START_ID, tf.where(positions <= lengths, token_at(-1), zeros))
    target_ids = tf.where(positions < lengths, token_at(0), tf.where(positions == lengths, record_schema.END_ID, zeros))
    return {
        "input_ids": input_ids,
        "target_ids": target_ids,
        "target_mask": tf.cast(positions <= lengths, tf.float32),
    }


def _caption_targets(parsed, depth: int, config) -> tuple:
    """Caption task: concept multi-hot `[B, k]`, the caption tokens (flat), and per row the
    start, length and (in "all" mode) source image of its caption."""
    concepts = _multi_hot(parsed[record_schema.CONCEPT_INDICES], depth, "concept")
    starts, lengths, image_of_row = _caption_spans(parsed, config)
    return concepts, parsed[record_schema.CAPTION_TOKEN_IDS].values, starts, lengths, image_of_row


def _label_targets(parsed, depth: int, config) -> tuple:
    """Multi-label task: label multi-hot `[B, k]` and the rare-first label sequence as tokens
    (label index + 3), one row per image."""
    del config  # one sequence per image
    labels = parsed[record_schema.LABEL_SEQUENCE]
    lengths = _count_per_row(labels)
    return (_multi_hot(labels, depth, "label"), labels.values + len(record_schema.LABEL_SPECIALS),
            tf.cumsum(lengths, exclusive=True), lengths, None)


# `Task.targets` -> the reader of its target sequences.
_TARGET_READERS = {"captions": _caption_targets, "labels": _label_targets}


def make_batch_fn(config, depths: dict):
    """Returns `fn(parsed batch) -> batch dict`, vectorised over the batch.

    Args:
      config: the `input_pipeline.PipelineConfig` (its task, captions, max_caption_length and
        pad_to_max_length are read here).
      depths: multi-hot widths, {"concepts": k, "tags": num_tags}.

    In "all" mode the result has one row per caption (unbatched and rebatched afterwards).
    """
    read_targets = _TARGET_READERS[tasks.get(config.task).targets]
    one_row_per_image = tasks.get(config.task).one_row_per_image(config.captions)

    def to_batch(parsed):
        concepts, flat_tokens, starts, lengths, image_of_row = read_targets(parsed, depths["concepts"], config)
        per_image = {
            "image_id": parsed[record_schema.IMAGE_ID],
            "concepts": concepts,
            "tags": _multi_hot(parsed[record_schema.TAG_INDICES], depths["tags"], "tag"),
        }
        if "image" in parsed:
            per_image["image"] = parsed["image"]
        batch_size = parsed[record_schema.IMAGE_ID].shape[0]  # static when drop_remainder
        for value in per_image.values():
            value.set_shape([batch_size] + value.shape[1:])
        framed = _frame(flat_tokens, starts, lengths, config)
        if not one_row_per_image:
            per_image = {key: tf.gather(value, image_of_row) for key, value in per_image.items()}
        else:
            for value in framed.values():
                value.set_shape([batch_size, value.shape[1]])
        return {**per_image, **framed}

    return to_batch


def trim_padding(batch: dict) -> dict:
    """Cuts `[B, T]` sequences to the longest one in the batch (after re-batching)."""
    length = tf.cast(tf.reduce_max(tf.reduce_sum(batch["target_mask"], axis=1)), tf.int32)
    return {**batch, **{key: batch[key][:, :length] for key in SEQUENCE_KEYS}}
