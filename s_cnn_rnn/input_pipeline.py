"""Converted TFRecords -> batches for training and evaluation (tf.data, pure TF).

A batch is a dict (BUILD_NOTES.md, "Input pipeline -> training"):

  image        float32 [B, S, S, 3]  absent when `read_images=False`
  image_id     int64   [B]
  concepts     float32 [B, k]        caption task: concept multi-hot (k = lines of concepts.txt);
                                     multilabel task: label multi-hot (k = lines of labels.txt)
  tags         float32 [B, num_tags] noisy-tag multi-hot (num_tags may be 0)
  input_ids    int32   [B, T]        <start> + tokens
  target_ids   int32   [B, T]        tokens + <end>
  target_mask  float32 [B, T]        1 on real positions, 0 on padding

T is the longest sequence in the batch (or `max_caption_length + 1` with
`pad_to_max_length=True`). Caption tokens are word ids (words.txt); label tokens are
`label index + 3`.

Element order: shards are interleaved, then (training) shuffled; every random choice
(file order, example order, the sampled caption, augmentation) comes from `config.seed`
when `config.deterministic`, so two runs give identical batches.
"""

import dataclasses
import os

import tensorflow as tf

from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import record_schema
from s_cnn_rnn import image_preprocessing
from s_cnn_rnn import tasks
from s_cnn_rnn.data_dir import dataset_info  # pylint: disable=unused-import  (the pipeline's sizes)

TASKS = tasks.NAMES
CAPTION_MODES = ("sample", "all")
# Shards read at once when `deterministic` (AUTOTUNE would use the core count, so the
# element order would depend on the machine).
_DETERMINISTIC_CYCLE_LENGTH = 4


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """How to read one split.

    Attributes:
      task: "caption" (concepts from captions, caption sequences) or "multilabel" (label
        multi-hot, rare-first label sequences).
      batch_size: examples per batch.
      image_size: image side in pixels: the model's `ModelConfig.resolved_image_size`
        (needed when `read_images`).
      preprocessing: pixel scaling "tf" | "caffe": the model's `ModelConfig.preprocessing_mode`
        (needed when `read_images`).
      training: shuffle (files and examples); enables `augment`.
      augment: random crop/scale + colour jitter (needs `training`).
      flip: random horizontal flip too (needs `augment`); off because captions say "left".
      captions: "sample" = one caption per image, drawn uniformly each time the image is
        read; "all" = every caption its own element (the image repeated).
      read_images: False for stage 2: image bytes are never parsed nor decoded and the
        batch has no "image" key.
      max_caption_length: tokens kept before <end>; longer sequences are truncated
        (label sequences too: raise it for datasets with many labels per image).
      pad_to_max_length: pad T to `max_caption_length + 1` (a static shape, one XLA
        compilation) instead of to the longest sequence in the batch.
      deterministic: reproducible element order and randomness, seeded by `seed`.
      seed: seed of every random choice when `deterministic`.
      shuffle_buffer: examples in the shuffle buffer (training).
      repeat: repeat forever; None -> `training`.
      drop_remainder: drop the last partial batch; None -> `training`.
    """

    task: str
    batch_size: int
    image_size: int | None = None
    preprocessing: str | None = None
    training: bool = False
    augment: bool = False
    flip: bool = False
    captions: str = "sample"
    read_images: bool = True
    max_caption_length: int = 20
    pad_to_max_length: bool = False
    deterministic: bool = False
    seed: int = 0
    shuffle_buffer: int = 2048
    repeat: bool | None = None
    drop_remainder: bool | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; expected one of {TASKS}")
        if self.captions not in CAPTION_MODES:
            raise ValueError(f"captions={self.captions!r}; expected one of {CAPTION_MODES}")
        if self.batch_size < 1 or self.max_caption_length < 1:
            raise ValueError("batch_size and max_caption_length must be >= 1")
        if self.preprocessing not in (None,) + image_preprocessing.MODES:
            raise ValueError(f"preprocessing={self.preprocessing!r}; expected one of {image_preprocessing.MODES}")
        if self.read_images and (self.image_size is None or self.preprocessing is None):
            raise ValueError(
                "reading images needs PipelineConfig.image_size and .preprocessing: pass the model's "
                "ModelConfig.resolved_image_size and .preprocessing_mode (or read_images=False)")
        if self.augment and not self.training:
            raise ValueError("augment=True needs training=True")
        if self.flip and not self.augment:
            raise ValueError("flip=True needs augment=True (and training=True)")

    @property
    def resolved_repeat(self) -> bool:
        return self.training if self.repeat is None else self.repeat

    @property
    def resolved_drop_remainder(self) -> bool:
        return self.training if self.drop_remainder is None else self.drop_remainder


# ----------------------------------------------------------------------------- examples

# The record keys the pipeline reads (caption/text and image/source_id are for people).
_KEYS = (record_schema.IMAGE_ID, record_schema.CAPTION_TOKEN_IDS, record_schema.CAPTION_LENGTHS,
         record_schema.CONCEPT_INDICES, record_schema.LABEL_SEQUENCE, record_schema.TAG_INDICES)
_SEQUENCE_KEYS = ("input_ids", "target_ids", "target_mask")
_CAPTION_RANDOM = "caption_random"  # int64 [0, 2^32) per record, for the caption choice


def _label_parsing_spec() -> dict:
    """The contract's spec, without the image and the keys only people read."""
    spec = record_schema.parsing_spec(with_image=False)
    return {key: spec[key] for key in _KEYS}


def _image_example_fn(config: PipelineConfig, data_dir: str):
    """Returns `fn(serialized, randoms) -> (serialized, randoms, image)` for one record."""
    spec = {record_schema.IMAGE_ENCODED: record_schema.parsing_spec(with_image=True)[record_schema.IMAGE_ENCODED]}
    empty_image_message = (
        f"a record in {data_dir} has no image bytes: the data dir is captions-only; re-convert with "
        "`s-cnn-rnn-convert ... --image_dir=IMAGES` or read it with read_images=False"
    )

    def example_fn(serialized, randoms):
        encoded = tf.io.parse_single_example(serialized, spec)[record_schema.IMAGE_ENCODED]
        check = tf.debugging.assert_greater(tf.strings.length(encoded), 0, message=empty_image_message)
        with tf.control_dependencies([check]):
            encoded = tf.identity(encoded)
        image = image_preprocessing.decode_and_preprocess(
            encoded, config.image_size, config.preprocessing, training=config.training,
            augment=config.augment, flip=config.flip, seed=randoms[:2],
        )
        return serialized, randoms, image

    return example_fn


# ----------------------------------------------------------------------------- batches
# Vectorised over the batch with plain dense ops on the parsed SparseTensors' flat values
# (ragged-tensor ops cost several times more small ops per batch).


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


def _caption_spans(parsed: dict, config: PipelineConfig):
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
    uniform = tf.cast(tf.bitwise.bitwise_and(parsed[_CAPTION_RANDOM], 2**32 - 1), tf.float64) / 2.0**32
    offset = tf.minimum(tf.cast(uniform * tf.cast(num_captions, tf.float64), tf.int64), num_captions - 1)
    chosen = tf.maximum(tf.cumsum(num_captions, exclusive=True) + offset, 0)  # [B]

    def pick(values):  # one trailing 0 so that a batch with no caption at all still gathers
        return tf.where(num_captions > 0, tf.gather(tf.concat([values, [0]], 0), chosen), 0)

    return pick(starts), pick(lengths.values), tf.range(tf.size(num_captions, out_type=tf.int64))


def _frame(flat_tokens, starts, lengths, config: PipelineConfig) -> dict:
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


def _caption_targets(parsed, depth: int, config: PipelineConfig) -> tuple:
    """Caption task: concept multi-hot `[B, k]`, the caption tokens (flat), and per row the
    start, length and (in "all" mode) source image of its caption."""
    concepts = _multi_hot(parsed[record_schema.CONCEPT_INDICES], depth, "concept")
    starts, lengths, image_of_row = _caption_spans(parsed, config)
    return concepts, parsed[record_schema.CAPTION_TOKEN_IDS].values, starts, lengths, image_of_row


def _label_targets(parsed, depth: int, config: PipelineConfig) -> tuple:
    """Multi-label task: label multi-hot `[B, k]` and the rare-first label sequence as tokens
    (label index + 3), one row per image."""
    del config  # one sequence per image
    labels = parsed[record_schema.LABEL_SEQUENCE]
    lengths = _count_per_row(labels)
    return (_multi_hot(labels, depth, "label"), labels.values + len(record_schema.LABEL_SPECIALS),
            tf.cumsum(lengths, exclusive=True), lengths, None)


# `Task.targets` -> the reader of its target sequences.
_TARGET_READERS = {"captions": _caption_targets, "labels": _label_targets}


def _batch_fn(config: PipelineConfig, depths: dict):
    """Returns `fn(parsed batch) -> batch dict`, vectorised over the batch.

    In "all" mode the result has one row per caption (unbatched and rebatched afterwards).
    """

    read_targets = _TARGET_READERS[tasks.get(config.task).targets]
    one_row_per_image = tasks.get(config.task).one_row_per_image(config.captions)

    def batch_fn(parsed):
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

    return batch_fn


def _trim_padding(batch: dict) -> dict:
    """Cuts `[B, T]` sequences to the longest one in the batch (after re-batching)."""
    length = tf.cast(tf.reduce_max(tf.reduce_sum(batch["target_mask"], axis=1)), tf.int32)
    return {**batch, **{key: batch[key][:, :length] for key in _SEQUENCE_KEYS}}


# ----------------------------------------------------------------------------- dataset


def _check_task(data_dir: str, info: dict, config: PipelineConfig) -> dict:
    """The multi-hot widths `{"concepts": k, "tags": num_tags}`; ValueError if unusable."""
    if config.read_images and not info["has_images"]:
        raise ValueError(
            f"{os.path.join(data_dir, record_schema.MANIFEST_FILE)} says the records have no images "
            "(captions-only); re-convert with `s-cnn-rnn-convert ... --image_dir=IMAGES` or use "
            "read_images=False"
        )
    task = tasks.get(config.task)
    depth, _ = task.sizes(info)
    if depth == 0:
        raise ValueError(
            f"{os.path.join(data_dir, task.concept_vocab_file)} is empty: this data dir has no "
            f"{task.targets_noun} for task={config.task!r}"
        )
    return {"concepts": depth, "tags": info["num_tags"]}


def _records(shard_paths: list[str], config: PipelineConfig, seed) -> tf.data.Dataset:
    """Serialised records: shards interleaved, shuffled (training), repeated."""
    files = tf.data.Dataset.from_tensor_slices(shard_paths)
    if config.training:
        files = files.shuffle(len(shard_paths), seed=seed, reshuffle_each_iteration=True)
    cycle_length = (
        min(len(shard_paths), _DETERMINISTIC_CYCLE_LENGTH) if config.deterministic else tf.data.AUTOTUNE
    )
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=cycle_length, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=config.deterministic,
    )
    if config.training:
        records = records.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return records.repeat() if config.resolved_repeat else records


def _randoms(seed) -> tf.data.Dataset:
    """Endless int64 `[3]` random values, one per record; a new stream on each re-iteration."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(3)


def make_dataset(data_dir: str, split: str, config: PipelineConfig, skip_examples: int = 0) -> tf.data.Dataset:
    """Batches of one split of a converted data dir (the dict described in the module doc).

    Stages: shards interleaved -> [shuffle] -> [repeat] -> per record, in parallel (images
    only): parse the image bytes, decode, preprocess -> batch -> per batch, vectorised:
    parse the rest, multi-hot, caption choice, <start>/<end> framing, padding -> ("all":
    one row per caption, re-batched) -> prefetch.

    Args:
      data_dir: the converter's output dir (manifest.json, shards, vocab/).
      split: a split name in manifest.json ("train", "val", "test", ...).
      config: how to read it.
      skip_examples: drop the first this many rows (images, or captions in "all" mode) of
        the stream, e.g. `step * batch_size` to resume training; with `deterministic` the
        rest equals an uninterrupted run's. Skipped records are read but not decoded
        (except in "all" mode).

    Raises:
      FileNotFoundError: no manifest.json, a missing shard or vocabulary file.
      ValueError: unknown split, an empty split, a captions-only dir with `read_images`,
        a task the data dir has no vocabulary for.
    """
    shard_paths = data_dir_lib.shard_paths(data_dir, split)
    depths = _check_task(data_dir, dataset_info(data_dir), config)
    seed = config.seed if config.deterministic else None
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=config.deterministic)
    rows_are_images = tasks.get(config.task).one_row_per_image(config.captions)
    records = tf.data.Dataset.zip(_records(shard_paths, config, seed), _randoms(seed))
    if rows_are_images and skip_examples:
        records = records.skip(skip_examples)

    # The map functions use TF ops for all control flow: AutoGraph's source rewrite would change nothing
    # but the cost (~1.4 CPU s, most of a process's first pipeline build).
    _as_written = tf.autograph.experimental.do_not_convert
    if config.read_images:
        records = records.map(_as_written(_image_example_fn(config, data_dir)), **parallel)
    spec, batch_fn = _label_parsing_spec(), _batch_fn(config, depths)

    def parse_batch(serialized, randoms, images=None):  # [B] records -> the batch dict
        parsed = {**tf.io.parse_example(serialized, spec), _CAPTION_RANDOM: randoms[:, 2]}
        return batch_fn(parsed if images is None else {**parsed, "image": images})

    # "all" batches images first (keeping every one) and re-batches captions afterwards.
    drop_remainder = config.resolved_drop_remainder if rows_are_images else False
    batches = records.batch(config.batch_size, drop_remainder=drop_remainder).map(_as_written(parse_batch), **parallel)
    if not rows_are_images:
        batches = batches.unbatch()
        if config.training:  # else an image's captions sit side by side; images cost ~1 MB each
            buffer_size = 4 * config.batch_size if config.read_images else config.shuffle_buffer
            batches = batches.shuffle(buffer_size, seed=seed)
        batches = batches.skip(skip_examples).padded_batch(
            config.batch_size, drop_remainder=config.resolved_drop_remainder
        )
        if not config.pad_to_max_length:
            batches = batches.map(_as_written(_trim_padding))
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
