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
import functools
import os

import tensorflow as tf

from s_cnn_rnn import batch_targets
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


@functools.lru_cache(maxsize=32)
def _map_functions(data_dir: str, config: PipelineConfig, depths: tuple) -> tuple:
    """The pipeline's map functions (image, batch, trim), traced once per (data dir, config, depths).

    A process builds the same pipeline for every stage and validation: each build would trace them again
    (~0.15 CPU s); as `tf.function`s a later build only calls the traced graphs. They are written in TF ops,
    so without AutoGraph (whose rewrite would change nothing but cost ~1.4 CPU s on the first build).
    """
    spec, batch_fn = _label_parsing_spec(), batch_targets.make_batch_fn(config, dict(depths))

    def parse_batch(serialized, randoms, images=None):  # [B] records -> the batch dict
        parsed = {**tf.io.parse_example(serialized, spec), batch_targets.CAPTION_RANDOM: randoms[:, 2]}
        return batch_fn(parsed if images is None else {**parsed, "image": images})

    return tuple(tf.function(fn, autograph=False) for fn in (_image_example_fn(config, data_dir), parse_batch,
                                                             batch_targets.trim_padding))


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
    image_fn, parse_batch, trim = _map_functions(data_dir, config, tuple(sorted(depths.items())))
    if config.read_images:
        records = records.map(image_fn, **parallel)
    # "all" batches images first (keeping every one) and re-batches captions afterwards.
    drop_remainder = config.resolved_drop_remainder if rows_are_images else False
    batches = records.batch(config.batch_size, drop_remainder=drop_remainder).map(parse_batch, **parallel)
    if not rows_are_images:
        batches = batches.unbatch()
        if config.training:  # else an image's captions sit side by side; images cost ~1 MB each
            buffer_size = 4 * config.batch_size if config.read_images else config.shuffle_buffer
            batches = batches.shuffle(buffer_size, seed=seed)
        batches = batches.skip(skip_examples).padded_batch(
            config.batch_size, drop_remainder=config.resolved_drop_remainder
        )
        if not config.pad_to_max_length:
            batches = batches.map(trim)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
