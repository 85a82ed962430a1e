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
import json
import os

import tensorflow as tf

from s_cnn_rnn import features
from s_cnn_rnn import image_preprocessing

TASKS = ("caption", "multilabel")
CAPTION_MODES = ("sample", "all")
# Shards read at once when `deterministic` (AUTOTUNE would use the core count, so the
# element order would depend on the machine).
_DETERMINISTIC_CYCLE_LENGTH = 4
_CONVERT_HINT = "run `s-cnn-rnn-convert --dataset=... --output_dir=DATA_DIR` to create it"


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """How to read one split.

    Attributes:
      task: "caption" (concepts from captions, caption sequences) or "multilabel" (label
        multi-hot, rare-first label sequences).
      batch_size: examples per batch.
      backbone: key of `image_preprocessing.BACKBONES`; picks pixel scaling and default size.
      image_size: image side in pixels; None -> the backbone's default.
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
    backbone: str = "inception_v3"
    image_size: int | None = None
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
        image_preprocessing.backbone_settings(self.backbone)
        if self.augment and not self.training:
            raise ValueError("augment=True needs training=True")
        if self.flip and not self.augment:
            raise ValueError("flip=True needs augment=True (and training=True)")

    @property
    def resolved_image_size(self) -> int:
        return self.image_size or image_preprocessing.BACKBONES[self.backbone][0]

    @property
    def resolved_repeat(self) -> bool:
        return self.training if self.repeat is None else self.repeat

    @property
    def resolved_drop_remainder(self) -> bool:
        return self.training if self.drop_remainder is None else self.drop_remainder


# ----------------------------------------------------------------------------- data dir


def _count_lines(path: str) -> int:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: the data dir is incomplete; {_CONVERT_HINT}")
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _read_manifest(data_dir: str) -> dict:
    path = os.path.join(data_dir, features.MANIFEST_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {data_dir} is not a converted data dir; {_CONVERT_HINT}")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        manifest["splits"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a valid manifest ({error}); {_CONVERT_HINT} again") from error
    return manifest


def dataset_info(data_dir: str) -> dict:
    """What model building needs to know about a converted data dir.

    Returns:
      {"num_examples": {split: N}, "num_concepts": lines of concepts.txt, "num_labels":
      lines of labels.txt, "num_label_tokens": num_labels + 3 (<pad> <start> <end>),
      "num_tags": lines of tags.txt, "vocab_size": lines of words.txt, "has_images": bool}.
    """
    manifest = _read_manifest(data_dir)
    num_labels = _count_lines(os.path.join(data_dir, features.LABELS_FILE))
    return {
        "num_examples": {name: int(split["num_examples"]) for name, split in manifest["splits"].items()},
        "num_concepts": _count_lines(os.path.join(data_dir, features.CONCEPTS_FILE)),
        "num_labels": num_labels,
        "num_label_tokens": num_labels + len(features.LABEL_SPECIALS),
        "num_tags": _count_lines(os.path.join(data_dir, features.TAGS_FILE)),
        "vocab_size": _count_lines(os.path.join(data_dir, features.WORDS_FILE)),
        "has_images": bool(manifest.get("has_images", True)),
    }


def _shard_paths(data_dir: str, split: str, manifest: dict) -> list[str]:
    splits = manifest["splits"]
    manifest_path = os.path.join(data_dir, features.MANIFEST_FILE)
    if split not in splits:
        raise ValueError(
            f"split {split!r} is not in {manifest_path} (it has {sorted(splits)}); convert with "
            f"`s-cnn-rnn-convert ... --splits={split}:IDS_FILE` or pick another split"
        )
    if int(splits[split].get("num_examples", 0)) == 0 or not splits[split].get("shards"):
        raise ValueError(f"split {split!r} in {manifest_path} has 0 examples; nothing to read")
    paths = [os.path.join(data_dir, shard) for shard in splits[split]["shards"]]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"{missing[0]} (listed in {manifest_path}) not found; {_CONVERT_HINT} again")
    return paths


# ----------------------------------------------------------------------------- examples

# The record keys the pipeline reads (caption/text and image/source_id are for people).
_KEYS = (
    features.IMAGE_ID,
    features.CAPTION_TOKEN_IDS,
    features.CAPTION_LENGTHS,
    features.CONCEPT_INDICES,
    features.LABEL_SEQUENCE,
    features.TAG_INDICES,
)
_SEQUENCE_KEYS = ("input_ids", "target_ids", "target_mask")


def _parsing_spec(read_images: bool) -> dict:
    spec = features.parsing_spec(with_image=read_images)
    return {key: spec[key] for key in _KEYS + ((features.IMAGE_ENCODED,) if read_images else ())}


def _image_example_fn(config: PipelineConfig, data_dir: str):
    """Returns `fn(serialized, seed) -> parsed dict` with "image" decoded (one record)."""
    spec = _parsing_spec(read_images=True)
    empty_image_message = (
        f"a record in {data_dir} has no image bytes: the data dir is captions-only; re-convert with "
        "`s-cnn-rnn-convert ... --image_dir=IMAGES` or read it with read_images=False"
    )

    def example_fn(serialized, seed):
        parsed = tf.io.parse_single_example(serialized, spec)
        encoded = parsed.pop(features.IMAGE_ENCODED)
        check = tf.debugging.assert_greater(tf.strings.length(encoded), 0, message=empty_image_message)
        with tf.control_dependencies([check]):
            encoded = tf.identity(encoded)
        parsed["image"] = image_preprocessing.decode_and_preprocess(
            encoded, config.backbone, config.resolved_image_size, training=config.training,
            augment=config.augment, flip=config.flip, seed=seed,
        )
        return parsed

    return example_fn


# ----------------------------------------------------------------------------- batches


def _multi_hot(indices: tf.SparseTensor, depth: int, what: str) -> tf.Tensor:
    """Sparse `[B, n]` indices -> float32 `[B, depth]` multi-hot, with a clear range check."""
    rows, values = indices.indices[:, 0], indices.values
    check = tf.debugging.assert_less(
        values, tf.constant(depth, tf.int64), message=f"{what} index out of range (>= {depth}): the "
        f"records and vocab/ come from different conversions; {_CONVERT_HINT} again",
    )
    with tf.control_dependencies([check]):
        positions = tf.stack([rows, values], axis=1)
    hits = tf.scatter_nd(positions, tf.ones_like(values, tf.float32), [indices.dense_shape[0], depth])
    return tf.minimum(hits, 1.0)  # a repeated index still means "present"


def _caption_rows(parsed: dict, config: PipelineConfig, seed: tf.Tensor):
    """Caption token ids of a batch: the sequences and how many belong to each image.

    Returns:
      ragged int64 `[R, None]` sequences and int64 `[B]` rows per image: one sampled
      caption per image ("sample"; R = B) or every caption ("all"; R = captions in batch).
    """
    tokens = tf.RaggedTensor.from_sparse(parsed[features.CAPTION_TOKEN_IDS])  # [B, None]
    lengths = tf.RaggedTensor.from_sparse(parsed[features.CAPTION_LENGTHS])  # [B, captions]
    check = tf.debugging.assert_equal(
        tf.reduce_sum(lengths, axis=1), tokens.row_lengths(),
        message="caption/lengths does not sum to len(caption/token_ids): corrupt record",
    )
    with tf.control_dependencies([check]):
        captions = tf.RaggedTensor.from_row_lengths(tokens.flat_values, lengths.flat_values)  # [C, None]
    num_captions = lengths.row_lengths()  # [B]
    if config.captions == "all":
        return captions, num_captions
    # Row captions.nrows() is an extra empty caption, for an image without any (never crash).
    captions = tf.concat([captions, tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int64), [0])], axis=0)
    uniform = tf.random.stateless_uniform(tf.shape(num_captions), seed=seed, dtype=tf.float64)
    offset = tf.minimum(tf.cast(uniform * tf.cast(num_captions, tf.float64), tf.int64), num_captions - 1)
    chosen = tf.where(num_captions > 0, lengths.row_starts() + offset, captions.nrows() - 1)
    return tf.gather(captions, chosen), tf.ones_like(num_captions)


def _frame(tokens: tf.RaggedTensor, max_length: int) -> dict:
    """Ragged token ids `[R, None]` -> ragged input ids, target ids and mask `[R, n + 1]`."""
    tokens = tf.cast(tokens[:, :max_length], tf.int32)
    start = tf.fill([tokens.nrows(), 1], features.START_ID)
    end = tf.fill([tokens.nrows(), 1], features.END_ID)
    input_ids = tf.concat([start, tokens], axis=1)
    return {
        "input_ids": input_ids,
        "target_ids": tf.concat([tokens, end], axis=1),
        "target_mask": tf.ones_like(input_ids, dtype=tf.float32),
    }


def _batch_fn(config: PipelineConfig, depths: dict):
    """Returns `fn(parsed batch, seed) -> batch dict` (vectorised over the batch).

    In "all" mode the result has one row per caption and ragged sequences (unbatched and
    rebatched afterwards); otherwise it is the final batch.
    """

    def batch_fn(parsed, seed):
        if config.task == "caption":
            concepts = _multi_hot(parsed[features.CONCEPT_INDICES], depths["concepts"], "concept")
            sequences, rows_per_image = _caption_rows(parsed, config, seed)
        else:
            labels = parsed[features.LABEL_SEQUENCE]
            concepts = _multi_hot(labels, depths["concepts"], "label")
            sequences = tf.RaggedTensor.from_sparse(labels) + len(features.LABEL_SPECIALS)
            rows_per_image = tf.ones_like(parsed[features.IMAGE_ID])
        per_image = {
            "image_id": parsed[features.IMAGE_ID],
            "concepts": concepts,
            "tags": _multi_hot(parsed[features.TAG_INDICES], depths["tags"], "tag"),
        }
        if "image" in parsed:
            per_image["image"] = parsed["image"]
        batch_size = parsed[features.IMAGE_ID].shape[0]  # static when drop_remainder
        for key, value in per_image.items():
            value.set_shape([batch_size] + value.shape[1:])
        framed = _frame(sequences, config.max_caption_length)
        if config.captions == "all":
            return {**{key: tf.repeat(value, rows_per_image, axis=0) for key, value in per_image.items()}, **framed}
        return {**per_image, **_densify(framed, config, batch_size)}

    return batch_fn


def _densify(framed: dict, config: PipelineConfig, batch_size=None) -> dict:
    """Ragged `[B, None]` sequences -> zero-padded dense `[B, T]`."""
    length = config.max_caption_length + 1 if config.pad_to_max_length else None
    return {key: value.to_tensor(0, shape=[batch_size, length]) for key, value in framed.items()}


# ----------------------------------------------------------------------------- dataset


def make_dataset(data_dir: str, split: str, config: PipelineConfig) -> tf.data.Dataset:
    """Batches of one split of a converted data dir (the dict described in the module doc).

    Stages: shard interleave -> [shuffle] -> [repeat] -> per record (images only): parse,
    decode, preprocess, in parallel -> batch -> per batch, vectorised: parse (no images),
    multi-hot, caption sampling, <start>/<end> framing, padding -> prefetch.

    Args:
      data_dir: the converter's output dir (manifest.json, shards, vocab/).
      split: a split name in manifest.json ("train", "val", "test", ...).
      config: how to read it.

    Raises:
      FileNotFoundError: no manifest.json, a missing shard or vocabulary file.
      ValueError: unknown split, an empty split, a captions-only dir with `read_images`,
        a task the data dir has no vocabulary for.
    """
    manifest = _read_manifest(data_dir)
    shard_paths = _shard_paths(data_dir, split, manifest)
    info = dataset_info(data_dir)
    if config.read_images and not info["has_images"]:
        raise ValueError(
            f"{os.path.join(data_dir, features.MANIFEST_FILE)} says the records have no images "
            "(captions-only); re-convert with `s-cnn-rnn-convert ... --image_dir=IMAGES` or use "
            "read_images=False"
        )
    vocab_file = features.CONCEPTS_FILE if config.task == "caption" else features.LABELS_FILE
    depth = info["num_concepts"] if config.task == "caption" else info["num_labels"]
    if depth == 0:
        raise ValueError(
            f"{os.path.join(data_dir, vocab_file)} is empty: this data dir has no "
            f"{'captions' if config.task == 'caption' else 'labels'} for task={config.task!r}"
        )
    depths = {"concepts": depth, "tags": info["num_tags"]}
    seed = config.seed if config.deterministic else None
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=config.deterministic)

    files = tf.data.Dataset.from_tensor_slices(shard_paths)
    if config.training:
        files = files.shuffle(len(shard_paths), seed=seed, reshuffle_each_iteration=True)
    cycle_length = (
        min(len(shard_paths), _DETERMINISTIC_CYCLE_LENGTH) if config.deterministic else tf.data.AUTOTUNE
    )
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=cycle_length, **parallel)
    if config.training:
        records = records.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if config.resolved_repeat:
        records = records.repeat()

    # "all" batches images first and captions after; "sample" batches once.
    sample = config.captions == "sample" or config.task == "multilabel"
    drop_image_batch = config.resolved_drop_remainder if sample else False
    if config.read_images:
        # A new [2] seed per record for augmentation, and a new stream on each re-iteration.
        element_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        parsed = tf.data.Dataset.zip(records, element_seeds).map(_image_example_fn(config, data_dir), **parallel)
        parsed = parsed.batch(config.batch_size, drop_remainder=drop_image_batch)
    else:
        spec = _parsing_spec(read_images=False)
        parsed = records.batch(config.batch_size, drop_remainder=drop_image_batch).map(
            lambda serialized: tf.io.parse_example(serialized, spec), **parallel
        )
    batch_seed = None if seed is None else seed + 1
    batch_seeds = tf.data.Dataset.random(seed=batch_seed, rerandomize_each_iteration=True).batch(2)
    batches = tf.data.Dataset.zip(parsed, batch_seeds).map(_batch_fn(config, depths), **parallel)
    if not sample:
        batch_size = config.batch_size if config.resolved_drop_remainder else None
        batches = (
            batches.unbatch()
            .batch(config.batch_size, drop_remainder=config.resolved_drop_remainder)
            .map(lambda batch: {**batch, **_densify({k: batch[k] for k in _SEQUENCE_KEYS}, config, batch_size)})
        )
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
