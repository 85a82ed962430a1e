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


# ----------------------------------------------------------------------------- one example


def _multi_hot(indices: tf.Tensor, depth: int, what: str) -> tf.Tensor:
    """int64 `[n]` indices -> float32 `[depth]` multi-hot, with a clear range check."""
    indices = tf.cast(indices, tf.int32)
    checks = [
        tf.debugging.assert_less(
            indices, depth, message=f"{what} index out of range (>= {depth}): the records and vocab/ "
            f"come from different conversions; {_CONVERT_HINT} again"
        )
    ]
    with tf.control_dependencies(checks):
        hits = tf.scatter_nd(indices[:, None], tf.ones_like(indices, tf.float32), [depth])
    return tf.minimum(hits, 1.0)  # a repeated index still means "present"


def _frame(tokens: tf.Tensor, max_length: int) -> dict:
    """Token ids `[..., n]` (ragged or dense) -> input/target ids `[..., n + 1]` and mask.

    Works on one sequence `[n]` (dense) or on all captions of an image `[C, None]` (ragged),
    truncated to `max_length` tokens before <end>.
    """
    if isinstance(tokens, tf.RaggedTensor):
        tokens = tf.cast(tokens[:, :max_length], tf.int32)
        start = tf.fill([tokens.nrows(), 1], features.START_ID)
        end = tf.fill([tokens.nrows(), 1], features.END_ID)
        input_ids = tf.concat([start, tokens], axis=1).to_tensor()
        target_ids = tf.concat([tokens, end], axis=1).to_tensor()
        lengths = tokens.row_lengths() + 1
        mask = tf.sequence_mask(lengths, tf.shape(input_ids)[1], dtype=tf.float32)
    else:
        tokens = tf.cast(tokens[:max_length], tf.int32)
        input_ids = tf.concat([[features.START_ID], tokens], axis=0)
        target_ids = tf.concat([tokens, [features.END_ID]], axis=0)
        mask = tf.ones_like(input_ids, tf.float32)
    return {"input_ids": input_ids, "target_ids": target_ids, "target_mask": mask}


def _caption_tokens(parsed: dict, config: PipelineConfig, seed: tf.Tensor):
    """The sampled caption `[n]` ("sample") or all captions `[C, None]` ragged ("all")."""
    token_ids = parsed[features.CAPTION_TOKEN_IDS]
    lengths = parsed[features.CAPTION_LENGTHS]
    checks = [
        tf.debugging.assert_equal(
            tf.reduce_sum(lengths), tf.size(token_ids, out_type=tf.int64),
            message="caption/lengths does not sum to len(caption/token_ids): corrupt record",
        )
    ]
    with tf.control_dependencies(checks):
        lengths = tf.identity(lengths)
    if config.captions == "all":
        return tf.RaggedTensor.from_row_lengths(token_ids, lengths)
    # One extra empty caption at the end stands in when an image has none (never crash).
    num_captions = tf.size(lengths)
    lengths = tf.concat([lengths, [0]], axis=0)
    starts = tf.cumsum(lengths, exclusive=True)
    index = tf.random.stateless_uniform(
        [], seed=seed, minval=0, maxval=tf.maximum(num_captions, 1), dtype=tf.int32
    )
    return token_ids[starts[index] : starts[index] + lengths[index]]


def _example_fn(config: PipelineConfig, depths: dict, data_dir: str):
    """Returns `fn(serialized, seed) -> element dict` for `Dataset.map`."""
    spec = features.parsing_spec(with_image=config.read_images)
    empty_image_message = (
        f"a record in {data_dir} has no image bytes: the data dir is captions-only; re-convert with "
        "`s-cnn-rnn-convert ... --image_dir=IMAGES` or read it with read_images=False"
    )

    def example_fn(serialized, seed):
        parsed = tf.io.parse_single_example(serialized, spec)
        parsed = {key: value.values if isinstance(value, tf.SparseTensor) else value for key, value in parsed.items()}
        caption_seed, image_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        element = {"image_id": parsed[features.IMAGE_ID]}
        if config.read_images:
            encoded = parsed[features.IMAGE_ENCODED]
            check = tf.debugging.assert_greater(tf.strings.length(encoded), 0, message=empty_image_message)
            with tf.control_dependencies([check]):
                encoded = tf.identity(encoded)
            element["image"] = image_preprocessing.decode_and_preprocess(
                encoded, config.backbone, config.resolved_image_size, training=config.training,
                augment=config.augment, flip=config.flip, seed=image_seed,
            )
        if config.task == "caption":
            element["concepts"] = _multi_hot(parsed[features.CONCEPT_INDICES], depths["concepts"], "concept")
            tokens = _caption_tokens(parsed, config, caption_seed)
        else:
            labels = parsed[features.LABEL_SEQUENCE]
            element["concepts"] = _multi_hot(labels, depths["concepts"], "label")
            tokens = labels + len(features.LABEL_SPECIALS)
            if config.captions == "all":
                tokens = tf.RaggedTensor.from_tensor(tokens[None, :])
        element["tags"] = _multi_hot(parsed[features.TAG_INDICES], depths["tags"], "tag")
        element.update(_frame(tokens, config.max_caption_length))
        return element

    return example_fn


def _one_element_per_caption(element: dict) -> tf.data.Dataset:
    """An image's element with `[C, T]` sequences -> C elements sharing the rest."""
    sequence_keys = ("input_ids", "target_ids", "target_mask")
    sequences = tf.data.Dataset.from_tensor_slices({key: element[key] for key in sequence_keys})
    rest = {key: value for key, value in element.items() if key not in sequence_keys}
    num_captions = tf.shape(element["input_ids"], out_type=tf.int64)[0]
    shared = tf.data.Dataset.from_tensors(rest).repeat(num_captions)

    def merge(rest, sequence):
        # Drop the padding the image's [C, T] matrix gave this caption.
        length = tf.cast(tf.reduce_sum(sequence["target_mask"]), tf.int32)
        return {**rest, **{key: value[:length] for key, value in sequence.items()}}

    return tf.data.Dataset.zip(shared, sequences).map(merge)


# ----------------------------------------------------------------------------- dataset


def make_dataset(data_dir: str, split: str, config: PipelineConfig) -> tf.data.Dataset:
    """Batches of one split of a converted data dir (the dict described in the module doc).

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

    files = tf.data.Dataset.from_tensor_slices(shard_paths)
    if config.training:
        files = files.shuffle(len(shard_paths), seed=seed, reshuffle_each_iteration=True)
    cycle_length = (
        min(len(shard_paths), _DETERMINISTIC_CYCLE_LENGTH) if config.deterministic else tf.data.AUTOTUNE
    )
    records = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=cycle_length,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=config.deterministic,
    )
    if config.training:
        records = records.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if config.resolved_repeat:
        records = records.repeat()
    # One [2] seed per element read; a new stream each pass when the dataset is re-iterated.
    element_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    elements = tf.data.Dataset.zip(records, element_seeds).map(
        _example_fn(config, depths, data_dir),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=config.deterministic,
    )
    if config.captions == "all":
        elements = elements.flat_map(_one_element_per_caption)

    sequence_length = config.max_caption_length + 1 if config.pad_to_max_length else None
    padded_shapes = {
        "image_id": [],
        "concepts": [depths["concepts"]],
        "tags": [depths["tags"]],
        "input_ids": [sequence_length],
        "target_ids": [sequence_length],
        "target_mask": [sequence_length],
    }
    if config.read_images:
        size = config.resolved_image_size
        padded_shapes["image"] = [size, size, 3]
    batches = elements.padded_batch(
        config.batch_size, padded_shapes=padded_shapes, drop_remainder=config.resolved_drop_remainder
    )
    options = tf.data.Options()
    options.deterministic = config.deterministic
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)
