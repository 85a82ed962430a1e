"""Tiny converted data dirs for tests, written straight in the documented format.

Independent of the converter on purpose: it writes what `s_cnn_rnn/record_schema.py` and
BUILD_NOTES.md describe (shards, `vocab/*.txt`, `manifest.json`), so the input pipeline is
tested against the contract, not against another module's behaviour.
"""

import dataclasses
import io
import json
import os

import numpy as np
from PIL import Image

import tensorflow as tf

from s_cnn_rnn import record_schema


@dataclasses.dataclass
class FixtureImage:
    """One record's content.

    Attributes:
      image_id: image/id.
      captions: word ids (into words.txt) of each caption, no <start>/<end>.
      concepts: ascending indices into concepts.txt.
      labels: rare-first indices into labels.txt.
      tags: ascending indices into tags.txt.
      jpeg: JPEG bytes, or None for a captions-only record (no image/encoded at all).
    """

    image_id: int
    captions: list[list[int]]
    concepts: list[int]
    labels: list[int]
    tags: list[int]
    jpeg: bytes | None = None


def make_jpeg(height: int, width: int, seed: int, quality: int = 92) -> bytes:
    """A smooth random colour image (gradients + a block), as JPEG bytes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [
        127 + 100 * np.sin(x / width * rng.uniform(1, 6) + rng.uniform(0, 6))
        * np.cos(y / height * rng.uniform(1, 6) + rng.uniform(0, 6))
        for _ in range(3)
    ]
    pixels = np.stack(channels, axis=-1)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    pixels[top : top + height // 3, left : left + width // 3] = rng.uniform(0, 255, 3)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def random_images(
    num_images: int,
    seed: int,
    vocab_size: int = 30,
    num_concepts: int = 12,
    num_labels: int = 6,
    num_tags: int = 5,
    image_shape: tuple[int, int] | None = (40, 56),
    max_captions: int = 5,
    max_caption_length: int = 9,
) -> list[FixtureImage]:
    """Random but valid records; `image_shape=None` makes captions-only records."""
    rng = np.random.default_rng(seed)
    images = []
    for index in range(num_images):
        captions = [
            rng.integers(len(record_schema.WORD_SPECIALS), vocab_size, rng.integers(1, max_caption_length + 1)).tolist()
            for _ in range(rng.integers(1, max_captions + 1))
        ]

        def subset(size, limit):
            return sorted(rng.choice(size, rng.integers(0, min(size, limit) + 1), replace=False).tolist())

        jpeg = None if image_shape is None else make_jpeg(*image_shape, seed=seed * 1000 + index)
        images.append(
            FixtureImage(
                image_id=1000 + index,
                captions=captions,
                concepts=subset(num_concepts, 6),
                labels=subset(num_labels, 4),
                tags=subset(num_tags, 3) if num_tags else [],
                jpeg=jpeg,
            )
        )
    return images


def serialize(image: FixtureImage) -> bytes:
    """The `tf.train.Example` of one record, keys from `s_cnn_rnn.record_schema`."""

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    feature = {
        record_schema.IMAGE_ID: ints([image.image_id]),
        record_schema.IMAGE_SOURCE_ID: strings([f"{image.image_id}.jpg".encode()]),
        record_schema.CAPTION_TEXT: strings([" ".join(map(str, c)).encode() for c in image.captions]),
        record_schema.CAPTION_TOKEN_IDS: ints([token for caption in image.captions for token in caption]),
        record_schema.CAPTION_LENGTHS: ints([len(caption) for caption in image.captions]),
        record_schema.CONCEPT_INDICES: ints(image.concepts),
        record_schema.LABEL_SEQUENCE: ints(image.labels),
        record_schema.TAG_INDICES: ints(image.tags),
    }
    if image.jpeg is not None:
        height, width = tf.image.extract_jpeg_shape(image.jpeg).numpy()[:2] if image.jpeg else (0, 0)
        feature[record_schema.IMAGE_ENCODED] = strings([image.jpeg])
        feature[record_schema.IMAGE_FORMAT] = strings([b"jpeg"])
        feature[record_schema.IMAGE_HEIGHT] = ints([int(height)])
        feature[record_schema.IMAGE_WIDTH] = ints([int(width)])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_vocab(path: str, tokens: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{token}\t{len(tokens) - index}\n" for index, token in enumerate(tokens))


def write_data_dir(
    data_dir: str,
    splits: dict[str, list[FixtureImage]],
    num_shards: int = 2,
    vocab_size: int = 30,
    num_concepts: int = 12,
    num_labels: int = 6,
    num_tags: int = 5,
    has_images: bool = True,
) -> str:
    """Writes shards, vocab/*.txt and manifest.json into `data_dir`; returns `data_dir`.

    Records are dealt round-robin into `num_shards` shards per split (a split with no
    records gets none and `num_examples` 0).
    """
    os.makedirs(os.path.join(data_dir, record_schema.VOCAB_DIR), exist_ok=True)
    words = list(record_schema.WORD_SPECIALS) + [f"w{i}" for i in range(vocab_size - len(record_schema.WORD_SPECIALS))]
    _write_vocab(os.path.join(data_dir, record_schema.WORDS_FILE), words)
    _write_vocab(os.path.join(data_dir, record_schema.CONCEPTS_FILE), [f"c{i}" for i in range(num_concepts)])
    _write_vocab(os.path.join(data_dir, record_schema.LABELS_FILE), [f"l{i}" for i in range(num_labels)])
    _write_vocab(os.path.join(data_dir, record_schema.TAGS_FILE), [f"t{i}" for i in range(num_tags)])
    manifest_splits = {}
    for name, images in splits.items():
        count = min(num_shards, len(images))
        shards = [f"{name}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]
        for shard_index, shard in enumerate(shards):
            with tf.io.TFRecordWriter(os.path.join(data_dir, shard)) as writer:
                for image in images[shard_index::count]:
                    writer.write(serialize(image))
        manifest_splits[name] = {"num_examples": len(images), "shards": shards}
    manifest = {
        "splits": manifest_splits,
        "skipped": [],
        "vocabularies": {"words": vocab_size, "concepts": num_concepts, "labels": num_labels, "tags": num_tags},
        "has_images": has_images,
    }
    with open(os.path.join(data_dir, record_schema.MANIFEST_FILE), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1)
    return data_dir
