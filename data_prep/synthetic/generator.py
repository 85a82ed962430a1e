"""`generate()`: the built-in synthetic dataset, written atomically in the real formats.

Each image depends only on (seed, image_id): its layout, pixels, captions and tags come
from generators seeded by that pair, so the output is byte-identical for a seed whatever
the number of worker processes. Ids 1..num_train are train, the next num_val are val, the
last num_test are test.
"""

import collections
import multiprocessing
import numbers
import os
import shutil
import time

from PIL import Image

from data_prep.synthetic import catalogue
from data_prep.synthetic import grammar
from data_prep.synthetic import render_layout
from data_prep.synthetic import scene_types
from data_prep.synthetic import tags as tags_lib
from data_prep.synthetic import world
from data_prep.synthetic import writers

DEFAULT_SIZES = {"num_train": 3000, "num_val": 500, "num_test": 500, "image_size": 96}
JPEG_QUALITY = 90
# Below this many images a worker pool costs more than it saves.
_MIN_IMAGES_FOR_POOL = 200
_MAX_IMAGES = 999_999  # six-digit file names


def generate(raw_dir: str, num_train: int = 3000, num_val: int = 500, num_test: int = 500,
             image_size: int = 96, seed: int = 0, num_workers: int | None = None) -> dict:
    """Draws the synthetic dataset into `raw_dir` (see README.txt there for the layout).

    Args:
      raw_dir: output directory; must not exist or be empty. Built as
        `raw_dir + ".tmp-<pid>"` and renamed into place at the end.
      num_train, num_val, num_test: images per split.
      image_size: side of the square JPEGs, in pixels (32-1024).
      seed: the dataset seed (a non-negative integer).
      num_workers: processes drawing images; None = one per CPU (in-process for small
        datasets), 0 or 1 = in this process.

    Returns:
      A summary dict: sizes, label and scene frequencies, timing.

    Raises:
      FileExistsError: `raw_dir` exists and is not an empty directory.
      ValueError: a size or the seed is out of range.
    """
    _check_arguments(num_train, num_val, num_test, image_size, seed)
    num_train, num_val, num_test = int(num_train), int(num_val), int(num_test)
    image_size, seed = int(image_size), int(seed)
    raw_dir = os.path.abspath(raw_dir)
    if os.path.exists(raw_dir) and (not os.path.isdir(raw_dir) or os.listdir(raw_dir)):
        raise FileExistsError(
            f"synthetic dataset: {raw_dir} already exists and is not empty; delete it or "
            "choose another directory.")
    total = num_train + num_val + num_test
    workers = _worker_count(num_workers, total)
    staging = f"{raw_dir}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    start = time.perf_counter()
    try:
        os.makedirs(os.path.join(staging, "images"))
        records = _render_all(staging, total, image_size, seed, workers)
        val_ids = list(range(num_train + 1, num_train + num_val + 1))
        test_ids = list(range(num_train + num_val + 1, total + 1))
        summary = _summary(records, num_train, num_val, num_test, image_size, seed)
        _write_annotations(staging, records, val_ids, test_ids, seed, image_size, summary)
        if os.path.isdir(raw_dir):
            os.rmdir(raw_dir)  # empty: checked above
        os.replace(staging, raw_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    summary.update(raw_dir=raw_dir, num_workers=workers, seconds=round(seconds, 2),
                   images_per_second=round(total / max(seconds, 1e-9), 1))
    return summary


def _check_arguments(num_train, num_val, num_test, image_size, seed) -> None:
    for name, value, low in (("num_train", num_train, 1), ("num_val", num_val, 0),
                             ("num_test", num_test, 0), ("seed", seed, 0)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"synthetic dataset: {name}={value!r} must be an integer >= {low}.")
    if num_train + num_val + num_test > _MAX_IMAGES:
        raise ValueError(f"synthetic dataset: at most {_MAX_IMAGES} images in total.")
    if not isinstance(image_size, numbers.Integral) or not 32 <= image_size <= 1024:
        raise ValueError(f"synthetic dataset: image_size={image_size!r} must be in 32..1024.")


def _worker_count(num_workers: int | None, total: int) -> int:
    if num_workers is None:
        return 1 if total < _MIN_IMAGES_FOR_POOL else max(1, os.cpu_count() or 1)
    return max(1, int(num_workers))


def render_image(task: tuple) -> writers.ImageRecord:
    """Draws, encodes and describes one image; writes its JPEG. Runs in a worker.

    Args:
      task: (seed, image_id, image_size, images_dir).
    """
    seed, image_id, image_size, images_dir = task
    rngs = world.image_rngs(seed, image_id)
    layout = world.sample_layout(rngs["layout"])
    pixels, visible = render_layout.render(layout, image_size, rngs["paint"])
    Image.fromarray(pixels, "RGB").save(os.path.join(images_dir, writers.file_name(image_id)),
                                        "JPEG", quality=JPEG_QUALITY)
    areas = {v.index: v.area for v in visible}
    captions = grammar.make_captions(layout, areas, rngs["text"])
    things = [layout.things[v.index] for v in visible]
    label_counts = collections.Counter(t.label for t in things)
    colours = [t.colour for t in things if t.colour]
    user_tags = tags_lib.sample_tags(layout.scene, layout.night, label_counts, colours,
                                     rngs["tags"])
    instances = [(t.label, list(v.bbox), v.area) for t, v in zip(things, visible)]
    return writers.ImageRecord(image_id, layout.scene, layout.night, instances, captions,
                               user_tags)


def _render_all(staging: str, total: int, image_size: int, seed: int, workers: int) -> list:
    images_dir = os.path.join(staging, "images")
    tasks = [(seed, image_id, image_size, images_dir) for image_id in range(1, total + 1)]
    if workers <= 1:
        return [render_image(task) for task in tasks]
    # "spawn": the caller may hold TensorFlow threads, which do not survive a fork.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(64, total // (8 * workers)))
    with context.Pool(workers) as pool:
        return list(pool.imap(render_image, tasks, chunksize=chunk))


def _write_annotations(staging, records, val_ids, test_ids, seed, image_size, summary):
    annotations = os.path.join(staging, "annotations")
    splits = os.path.join(staging, "splits")
    os.makedirs(annotations)
    os.makedirs(splits)
    writers.write_captions(os.path.join(annotations, "captions.json"), records, seed, image_size)
    writers.write_instances(os.path.join(annotations, "instances.json"), records, seed,
                            image_size)
    writers.write_user_tags(os.path.join(annotations, "user_tags.json"), records)
    writers.write_lines(os.path.join(splits, "val_ids.txt"), val_ids, "\n")
    writers.write_lines(os.path.join(splits, "test_ids.txt"), test_ids, "\n")
    writers.write_nuswide(os.path.join(staging, "nuswide"), records, set(test_ids))
    with open(os.path.join(staging, "README.txt"), "w", encoding="ascii", newline="\n") as f:
        f.write(writers.readme_text(summary))


def _summary(records, num_train, num_val, num_test, image_size, seed) -> dict:
    label_counts = collections.Counter(label for r in records for label in r.labels)
    scene_counts = collections.Counter(r.scene for r in records)
    count = max(1, len(records))
    return {
        "generator_version": catalogue.GENERATOR_VERSION,
        "seed": seed,
        "image_size": image_size,
        "num_images": len(records),
        "splits": {"train": num_train, "val": num_val, "test": num_test},
        "num_labels": len(catalogue.LABEL_NAMES),
        "num_tags": len(tags_lib.TAG_LIST),
        "num_instances": sum(len(r.instances) for r in records),
        "num_captions": sum(len(r.captions) for r in records),
        "images_without_labels": sum(not r.instances for r in records),
        "mean_labels_per_image": sum(len(r.labels) for r in records) / count,
        "mean_tags_per_image": sum(len(r.tags) for r in records) / count,
        "scene_frequency": {s.name: scene_counts[s.name] for s in scene_types.SCENES},
        "label_frequency": {name: label_counts[name] for name in catalogue.LABEL_NAMES},
    }
