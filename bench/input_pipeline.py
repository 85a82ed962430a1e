r"""Input-pipeline throughput vs the JPEG decode bound and a plain PIL loop.

Writes a temporary data dir of realistic JPEGs (640x480 noisy natural-ish scenes matched
to real COCO photos in size and decode time; or the project's synthetic scenes with
`--images=synthetic`; or the real JPEGs of `--jpeg_dir`, cycled), then measures images/s,
interleaved and repeated (medians):

  pipeline  s_cnn_rnn.input_pipeline.make_dataset (read records, parse, decode, crop,
            resize, scale, batch), training=False, caption task
  bound     tf.io.decode_jpeg alone over the same JPEG bytes held in memory, as a
            tf.data map with AUTOTUNE parallelism (the cost no pipeline can avoid
            when it decodes whole images)
  pil_loop  a Python loop: open each JPEG file, decode it with PIL, np.asarray

`--breakdown` also times the pipeline's parts one by one (image stages over in-memory
bytes, record reading, the label side). Besides wall-clock images/s, the table gives this
process's CPU milliseconds per image, which other jobs on a shared machine barely disturb.
The last line printed is one JSON object with the medians and the settings.

Example:
  python bench/input_pipeline.py --num_images=256 --num_batches=16 --repeats=5
  python bench/input_pipeline.py --jpeg_dir=COCO/val2014
"""

import dataclasses
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

from s_cnn_rnn import record_schema  # noqa: E402
from s_cnn_rnn import image_preprocessing  # noqa: E402
from s_cnn_rnn import input_pipeline  # noqa: E402
from s_cnn_rnn.models.config import ModelConfig  # noqa: E402

_NUM_IMAGES = flags.DEFINE_integer("num_images", 256, "Distinct JPEGs written (cycled through).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Model input side; None -> the backbone default.")
_BACKBONE = flags.DEFINE_string("backbone", "inception_v3", "Backbone whose preprocessing is timed.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 24, "Batches per measurement.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Measurements per method (after one warm-up).")
_WIDTH = flags.DEFINE_integer("width", 640, "Generated JPEG width.")
_HEIGHT = flags.DEFINE_integer("height", 480, "Generated JPEG height.")
_QUALITY = flags.DEFINE_integer("quality", 95, "Generated JPEG quality.")
_JPEG_DIR = flags.DEFINE_string("jpeg_dir", None, "Use these JPEGs (cycled) instead of generated ones.")
_IMAGES = flags.DEFINE_enum(
    "images", "natural", ["natural", "synthetic"],
    "Generated images: photo-like noisy scenes (--width x --height, --quality), or the project's "
    "synthetic dataset (data_prep.synthetic, --height x --height squares).",
)
_BREAKDOWN = flags.DEFINE_bool("breakdown", False, "Also time the image stages one by one.")


# ----------------------------------------------------------------------------- test data


def natural_ish_jpeg(rng: np.random.Generator, height: int, width: int, quality: int, grain: float = 16.0) -> bytes:
    """A photo-like JPEG: sky/ground gradients, soft blobs, hard-edged objects, sensor grain.

    At 640x480, quality 95 and grain 16 its size and decode time match real COCO photos
    (measured: 195 KB and 2.19 ms vs 185 KB and 2.23 ms for 12 real COCO val2014 photos).
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
    image += rng.normal(0, grain, image.shape)  # sensor grain
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def load_jpegs(num_images: int, work_dir: str) -> list[bytes]:
    """`num_images` JPEGs: from --jpeg_dir (cycled), the project's synthetic scenes, or natural-ish."""
    if _JPEG_DIR.value:
        paths = sorted(glob.glob(os.path.join(_JPEG_DIR.value, "*.jp*g")))
        if not paths:
            raise app.UsageError(f"no *.jpg in --jpeg_dir={_JPEG_DIR.value}")
    elif _IMAGES.value == "synthetic":
        from data_prep import synthetic  # the project's own generator (square cartoon scenes)

        raw_dir = os.path.join(work_dir, "synthetic_raw")
        synthetic.generate(raw_dir, num_train=num_images, num_val=0, num_test=0, image_size=_HEIGHT.value)
        paths = sorted(glob.glob(os.path.join(raw_dir, "**", "*.jpg"), recursive=True))
    else:
        rng = np.random.default_rng(0)
        return [natural_ish_jpeg(rng, _HEIGHT.value, _WIDTH.value, _QUALITY.value) for _ in range(num_images)]
    blobs = []
    for path in paths[:num_images]:
        with open(path, "rb") as handle:
            blobs.append(handle.read())
    return [blobs[i % len(blobs)] for i in range(num_images)]


def write_data_dir(data_dir: str, jpegs: list[bytes], num_shards: int = 4) -> list[str]:
    """Records in the record_schema.py format + vocab/ + manifest.json; returns the JPEG file paths."""
    os.makedirs(os.path.join(data_dir, record_schema.VOCAB_DIR))
    vocab = {
        record_schema.WORDS_FILE: list(record_schema.WORD_SPECIALS) + [f"w{i}" for i in range(96)],
        record_schema.CONCEPTS_FILE: [f"w{i}" for i in range(64)],
        record_schema.LABELS_FILE: [f"l{i}" for i in range(8)],
        record_schema.TAGS_FILE: [],
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
            record_schema.IMAGE_ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])),
            record_schema.IMAGE_ID: ints([index]),
            record_schema.CAPTION_TOKEN_IDS: ints(rng.integers(4, 100, lengths.sum())),
            record_schema.CAPTION_LENGTHS: ints(lengths),
            record_schema.CONCEPT_INDICES: ints(sorted(set(rng.integers(0, 64, 12)))),
            record_schema.LABEL_SEQUENCE: ints([1, 5]),
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
    with open(os.path.join(data_dir, record_schema.MANIFEST_FILE), "w") as handle:
        json.dump(manifest, handle)
    return jpeg_paths


# ----------------------------------------------------------------------------- methods


def _in_memory_map(jpegs, batch_size, fn) -> tf.data.Dataset:
    """Endless batches of `fn` over the in-memory JPEG bytes, as a parallel tf.data map."""
    options = tf.data.Options()
    options.deterministic = False
    return (
        tf.data.Dataset.from_tensor_slices(jpegs).repeat()
        .map(fn, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .with_options(options)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_methods(data_dir, jpegs, jpeg_paths, config: input_pipeline.PipelineConfig) -> dict:
    """name -> zero-argument callable returning an endless iterator of batches."""
    pipeline = input_pipeline.make_dataset(data_dir, "train", config)
    # Only the shape leaves the map: the bound pays for decoding, nothing else.
    bound = _in_memory_map(jpegs, config.batch_size, lambda b: tf.shape(tf.io.decode_jpeg(b, channels=3)))

    def pil_loop():
        index = 0
        while True:
            for _ in range(config.batch_size):
                with Image.open(jpeg_paths[index % len(jpeg_paths)]) as image:
                    np.asarray(image.convert("RGB"))
                index += 1
            yield config.batch_size

    methods = {"pipeline": lambda: iter(pipeline), "bound": lambda: iter(bound), "pil_loop": pil_loop}
    if _BREAKDOWN.value:
        methods.update(breakdown_methods(data_dir, jpegs, config))
    return methods


def breakdown_methods(data_dir, jpegs, config) -> dict:
    """The pipeline's costs one by one: image stages over in-memory bytes, cumulatively,
    then reading + parsing the records alone, then everything but the images."""
    size, mode = config.image_size, config.preprocessing

    def cropped(b):
        window = image_preprocessing.crop_window(tf.image.extract_jpeg_shape(b), False, False)
        return tf.io.decode_and_crop_jpeg(b, window, channels=3)

    def resized(b):
        return tf.image.resize(tf.cast(cropped(b), tf.float32), [size, size])

    # One pixel leaves the map (static shapes would let the whole computation be folded away).
    stages = {
        "decode_crop": lambda b: cropped(b)[0, 0],
        "+resize": lambda b: resized(b)[0, 0],
        "+scale": lambda b: image_preprocessing.scale_pixels(resized(b), mode)[0, 0],
        "+batch": lambda b: image_preprocessing.scale_pixels(resized(b), mode),
    }
    datasets = {name: _in_memory_map(jpegs, config.batch_size, fn) for name, fn in stages.items()}
    spec = {record_schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)}
    shards = sorted(glob.glob(os.path.join(data_dir, "*.tfrecord")))
    datasets["records_only"] = (
        tf.data.Dataset.from_tensor_slices(shards).interleave(
            tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .repeat()
        .map(lambda r: tf.strings.length(tf.io.parse_single_example(r, spec)[record_schema.IMAGE_ENCODED]),
             num_parallel_calls=tf.data.AUTOTUNE)
        .batch(config.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    no_images = dataclasses.replace(config, read_images=False)
    datasets["no_images"] = input_pipeline.make_dataset(data_dir, "train", no_images)
    return {name: lambda dataset=dataset: iter(dataset) for name, dataset in datasets.items()}


def measure(methods: dict, repeats: int, num_batches: int, batch_size: int, warmup_batches: int = 3):
    """Steady-state timings, interleaved across methods, the order rotating each repeat.

    Each measurement starts a fresh iterator, pulls `warmup_batches` (pipeline start-up,
    autotuning), then times `num_batches`.

    Returns:
      name -> list of images/s (wall clock), and name -> list of this process's CPU
      milliseconds per image (all threads; robust to other processes sharing the cores).
    """
    rates = {name: [] for name in methods}
    cpu_ms = {name: [] for name in methods}
    names = list(methods)
    num_images = num_batches * batch_size
    for repeat in range(repeats + 1):  # the first round only warms up (tracing, caches)
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            batches = methods[name]()
            for _ in range(warmup_batches):
                next(batches)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(num_batches):
                next(batches)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            del batches
            if repeat:
                rates[name].append(num_images / wall)
                cpu_ms[name].append(1000 * cpu / num_images)
    return rates, cpu_ms


def jpeg_source() -> str:
    if _JPEG_DIR.value:
        return _JPEG_DIR.value
    if _IMAGES.value == "synthetic":
        return f"data_prep.synthetic {_HEIGHT.value}x{_HEIGHT.value}"
    return f"natural-ish {_WIDTH.value}x{_HEIGHT.value} q{_QUALITY.value}"


def main(argv):
    del argv
    backbone = _BACKBONE.value
    # The size and scaling a model of this backbone reads, as training and evaluation take them.
    model = ModelConfig(backbone=backbone, backbone_weights="none", image_size=_IMAGE_SIZE.value)
    image_size = model.resolved_image_size
    with tempfile.TemporaryDirectory(prefix="bench_input_pipeline_") as work_dir:
        jpegs = load_jpegs(_NUM_IMAGES.value, work_dir)
        data_dir = os.path.join(work_dir, "data")
        jpeg_paths = write_data_dir(data_dir, jpegs)
        config = input_pipeline.PipelineConfig(
            task="caption", batch_size=_BATCH_SIZE.value, image_size=image_size, preprocessing=model.preprocessing_mode,
            training=False, repeat=True, drop_remainder=True,
        )
        methods = build_methods(data_dir, jpegs, jpeg_paths, config)
        rates, cpu_ms = measure(methods, _REPEATS.value, _NUM_BATCHES.value, _BATCH_SIZE.value)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_ms.items()}
    mean_kb = sum(map(len, jpegs)) / len(jpegs) / 1024
    print(
        f"\n{len(jpegs)} JPEGs ({jpeg_source()}, "
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
            "jpeg_source": jpeg_source(),
            "mean_jpeg_kb": round(mean_kb, 1), "cpus": os.cpu_count(),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
