r"""Input-pipeline throughput vs the JPEG decode bound and a plain PIL loop.

Writes a temporary data dir of realistic JPEGs (640x480 noisy natural-ish scenes, or the
real JPEGs of `--jpeg_dir`, cycled), then measures images/s, interleaved and repeated:

  pipeline  s_cnn_rnn.input_pipeline.make_dataset (read records, parse, decode, crop,
            resize, scale, batch), training=False, caption task
  bound     tf.io.decode_jpeg alone over the same JPEG bytes held in memory, as a
            tf.data map with AUTOTUNE parallelism (the cost no pipeline can avoid
            when it decodes whole images)
  pil_loop  a Python loop: open each JPEG file, decode it with PIL, np.asarray

`--breakdown` also times the pipeline's image stages one by one over in-memory bytes.
The last line printed is one JSON object with the medians and the settings.

Example:
  python bench/input_pipeline.py --num_images=256 --num_batches=16 --repeats=5
  python bench/input_pipeline.py --jpeg_dir=../shared/data/coco_mini12/images
"""

import glob
import io
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from PIL import Image  # noqa: E402

import tensorflow as tf  # noqa: E402

from s_cnn_rnn import features  # noqa: E402
from s_cnn_rnn import image_preprocessing  # noqa: E402
from s_cnn_rnn import input_pipeline  # noqa: E402

_NUM_IMAGES = flags.DEFINE_integer("num_images", 256, "Distinct JPEGs written (cycled through).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Model input side; None -> the backbone default.")
_BACKBONE = flags.DEFINE_string("backbone", "inception_v3", "Backbone whose preprocessing is timed.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 24, "Batches per measurement.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Measurements per method (after one warm-up).")
_WIDTH = flags.DEFINE_integer("width", 640, "Generated JPEG width.")
_HEIGHT = flags.DEFINE_integer("height", 480, "Generated JPEG height.")
_QUALITY = flags.DEFINE_integer("quality", 92, "Generated JPEG quality.")
_JPEG_DIR = flags.DEFINE_string("jpeg_dir", None, "Use these JPEGs (cycled) instead of generated ones.")
_BREAKDOWN = flags.DEFINE_bool("breakdown", False, "Also time the image stages one by one.")


# ----------------------------------------------------------------------------- test data


def natural_ish_jpeg(rng: np.random.Generator, height: int, width: int, quality: int) -> bytes:
    """A photo-like JPEG: sky/ground gradients, soft blobs, hard-edged objects, sensor grain.

    The grain and edges give it the entropy (and so the decode cost) of a real photo: about
    the file size of a COCO image at the same resolution.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = rng.uniform(0.3, 0.7) * height
    sky, ground = rng.uniform(60, 230, 3), rng.uniform(30, 180, 3)
    image = np.where((y < horizon)[..., None], sky * (0.7 + 0.3 * y / horizon)[..., None], ground)
    for _ in range(rng.integers(4, 9)):  # soft blobs (foliage, clouds)
        cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.04, 0.25) * height
        weight = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))[..., None]
        image = image * (1 - weight) + rng.uniform(0, 255, 3) * weight
    for _ in range(rng.integers(3, 8)):  # hard-edged objects with a stripe texture
        top, left = rng.integers(0, height * 3 // 4 + 1), rng.integers(0, width * 3 // 4 + 1)
        h, w = rng.integers(height // 16 + 1, height // 2 + 2), rng.integers(width // 20 + 1, width // 3 + 2)
        stripes = 20 * np.sin(x[top : top + h, left : left + w] / rng.uniform(2, 9))[..., None]
        image[top : top + h, left : left + w] = rng.uniform(0, 255, 3) + stripes
    image += rng.normal(0, 12, image.shape)  # grain
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def load_jpegs(num_images: int) -> list[bytes]:
    if _JPEG_DIR.value:
        paths = sorted(glob.glob(os.path.join(_JPEG_DIR.value, "*.jp*g")))
        if not paths:
            raise app.UsageError(f"no *.jpg in --jpeg_dir={_JPEG_DIR.value}")
        blobs = [open(path, "rb").read() for path in paths]
        return [blobs[i % len(blobs)] for i in range(num_images)]
    rng = np.random.default_rng(0)
    return [natural_ish_jpeg(rng, _HEIGHT.value, _WIDTH.value, _QUALITY.value) for _ in range(num_images)]


def write_data_dir(data_dir: str, jpegs: list[bytes], num_shards: int = 4) -> list[str]:
    """Records in the features.py format + vocab/ + manifest.json; returns the JPEG file paths."""
    os.makedirs(os.path.join(data_dir, features.VOCAB_DIR))
    vocab = {
        features.WORDS_FILE: list(features.WORD_SPECIALS) + [f"w{i}" for i in range(96)],
        features.CONCEPTS_FILE: [f"w{i}" for i in range(64)],
        features.LABELS_FILE: [f"l{i}" for i in range(8)],
        features.TAGS_FILE: [],
    }
    for name, tokens in vocab.items():
        with open(os.path.join(data_dir, name), "w") as handle:
            handle.writelines(f"{token}\t1\n" for token in tokens)
    rng = np.random.default_rng(1)
    shards = [f"train-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(os.path.join(data_dir, shard)) for shard in shards]
    jpeg_paths = []
    for index, jpeg in enumerate(jpegs):
        jpeg_paths.append(os.path.join(data_dir, f"{index:06d}.jpg"))
        with open(jpeg_paths[-1], "wb") as handle:
            handle.write(jpeg)
        lengths = rng.integers(8, 16, 5)
        ints = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))  # noqa: E731
        feature = {
            features.IMAGE_ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
            features.IMAGE_ID: ints([index]),
            features.CAPTION_TOKEN_IDS: ints(rng.integers(4, 100, lengths.sum())),
            features.CAPTION_LENGTHS: ints(lengths),
            features.CONCEPT_INDICES: ints(sorted(set(rng.integers(0, 64, 12)))),
            features.LABEL_SEQUENCE: ints([1, 5]),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        writers[index % num_shards].write(example.SerializeToString())
    for writer in writers:
        writer.close()
    manifest = {
        "splits": {"train": {"num_examples": len(jpegs), "shards": shards}},
        "skipped": [],
        "vocabularies": {},
        "has_images": True,
    }
    with open(os.path.join(data_dir, features.MANIFEST_FILE), "w") as handle:
        json.dump(manifest, handle)
    return jpeg_paths


# ----------------------------------------------------------------------------- methods


def _drain(dataset: tf.data.Dataset) -> int:
    count = 0
    for batch in dataset:
        count += int(tf.shape(tf.nest.flatten(batch)[0])[0])
    return count


def _in_memory_map(jpegs, num_images, batch_size, fn) -> tf.data.Dataset:
    """`fn` over the in-memory JPEG bytes as a parallel tf.data map, batched."""
    options = tf.data.Options()
    options.deterministic = False
    return (
        tf.data.Dataset.from_tensor_slices(jpegs).repeat().take(num_images)
        .map(fn, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .with_options(options)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_methods(data_dir, jpegs, jpeg_paths, backbone, image_size, batch_size, num_batches) -> dict:
    """name -> zero-argument callable that processes the images and returns how many."""
    num_images = batch_size * num_batches
    config = input_pipeline.PipelineConfig(
        task="caption", batch_size=batch_size, backbone=backbone, image_size=image_size, training=False,
        repeat=True, drop_remainder=True,
    )
    pipeline = input_pipeline.make_dataset(data_dir, "train", config).take(num_batches)
    # Only the shape leaves the map: the bound pays for decoding, nothing else.
    bound = _in_memory_map(jpegs, num_images, batch_size, lambda b: tf.shape(tf.io.decode_jpeg(b, channels=3)))

    def pil_loop():
        for index in range(num_images):
            with Image.open(jpeg_paths[index % len(jpeg_paths)]) as image:
                np.asarray(image.convert("RGB"))
        return num_images

    methods = {"pipeline": lambda: _drain(pipeline), "bound": lambda: _drain(bound), "pil_loop": pil_loop}
    if _BREAKDOWN.value:
        mode = image_preprocessing.BACKBONES[backbone][1]

        def cropped(b):
            window = image_preprocessing.crop_window(tf.image.extract_jpeg_shape(b), False, False)
            return tf.io.decode_and_crop_jpeg(b, window, channels=3)

        def resized(b):
            return tf.image.resize(tf.cast(cropped(b), tf.float32), [image_size, image_size])

        # One pixel leaves the map: shapes would be static after the resize and the whole
        # computation constant-folded away.
        stages = {
            "decode_crop": lambda b: cropped(b)[0, 0],
            "+resize": lambda b: resized(b)[0, 0],
            "+scale": lambda b: image_preprocessing.scale_pixels(resized(b), mode)[0, 0],
            "+scale+batch": lambda b: image_preprocessing.scale_pixels(resized(b), mode),
        }
        for name, fn in stages.items():
            dataset = _in_memory_map(jpegs, num_images, batch_size, fn)
            methods[name] = lambda dataset=dataset: _drain(dataset)
    return methods


def measure(methods: dict, repeats: int) -> tuple[dict, dict]:
    """Interleaved timings, one warm-up each.

    Returns:
      name -> list of images/s (wall clock), and name -> list of this process's CPU
      milliseconds per image (all threads; robust to other processes sharing the cores).
    """
    for run in methods.values():
        run()
    rates = {name: [] for name in methods}
    cpu_ms = {name: [] for name in methods}
    names = list(methods)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:  # rotate the order
            wall, cpu = time.perf_counter(), time.process_time()
            count = methods[name]()
            rates[name].append(count / (time.perf_counter() - wall))
            cpu_ms[name].append(1000 * (time.process_time() - cpu) / count)
    return rates, cpu_ms


def main(argv):
    del argv
    backbone = _BACKBONE.value
    image_size = _IMAGE_SIZE.value or image_preprocessing.BACKBONES[backbone][0]
    with tempfile.TemporaryDirectory(prefix="bench_input_pipeline_") as work_dir:
        jpegs = load_jpegs(_NUM_IMAGES.value)
        data_dir = os.path.join(work_dir, "data")
        jpeg_paths = write_data_dir(data_dir, jpegs)
        methods = build_methods(
            data_dir, jpegs, jpeg_paths, backbone, image_size, _BATCH_SIZE.value, _NUM_BATCHES.value
        )
        rates, cpu_ms = measure(methods, _REPEATS.value)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_ms.items()}
    mean_kb = sum(map(len, jpegs)) / len(jpegs) / 1024
    print(
        f"\n{len(jpegs)} JPEGs ({'from ' + _JPEG_DIR.value if _JPEG_DIR.value else 'generated'}, "
        f"mean {mean_kb:.0f} KB), {backbone} at {image_size} px, batch {_BATCH_SIZE.value} x "
        f"{_NUM_BATCHES.value} batches, {_REPEATS.value} repeats, {os.cpu_count()} CPUs"
    )
    print(f"{'method':<14}{'median img/s':>14}{'min':>10}{'max':>10}{'vs bound':>10}{'CPU ms/img':>12}")
    for name, values in rates.items():
        print(
            f"{name:<14}{medians[name]:>14.1f}{min(values):>10.1f}{max(values):>10.1f}"
            f"{medians[name] / medians['bound']:>10.3f}{cpu_medians[name]:>12.2f}"
        )
    result = {
        "images_per_second": {name: round(value, 1) for name, value in medians.items()},
        "fraction_of_decode_bound": round(medians["pipeline"] / medians["bound"], 3),
        "speedup_vs_pil_loop": round(medians["pipeline"] / medians["pil_loop"], 3),
        "cpu_ms_per_image": {name: round(value, 3) for name, value in cpu_medians.items()},
        "cpu_fraction_of_decode_bound": round(cpu_medians["bound"] / cpu_medians["pipeline"], 3),
        "settings": {
            "num_images": len(jpegs), "image_size": image_size, "backbone": backbone,
            "batch_size": _BATCH_SIZE.value, "num_batches": _NUM_BATCHES.value, "repeats": _REPEATS.value,
            "jpeg_source": _JPEG_DIR.value or f"generated {_WIDTH.value}x{_HEIGHT.value} q{_QUALITY.value}",
            "mean_jpeg_kb": round(mean_kb, 1), "cpus": os.cpu_count(),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
