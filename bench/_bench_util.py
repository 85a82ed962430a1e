"""Helpers shared by the benchmarks: flag files, benchmark data dirs, interleaved timing.

Nothing here is imported by the package; benchmarks run from the project root as
`python bench/<name>.py`.
"""

import dataclasses
import glob
import io
import json
import os
import statistics
import time
from typing import Callable

import numpy as np
from PIL import Image

from data_prep import convert_lib


# ----------------------------------------------------------------------------- flag files


def parse_train_flagfile(path: str, *extra_args: str):
    """An `s-cnn-rnn-train` flagfile (nested `--flagfile=` lines included), parsed by absl itself.

    The flags are defined into a throw-away `FlagValues`, so the caller's own flags are untouched;
    an unknown flag or a bad value fails here as it would in `s-cnn-rnn-train`. Imports
    TensorFlow (the training dataclasses the flags come from live beside it).

    Args:
      path: the flagfile.
      *extra_args: more `--name=value` arguments after it (they win, as on a command line).

    Returns:
      The `absl.flags.FlagValues`: `values["cnn_train_steps"].value`, `.present` (set, not default).
    """
    from absl import flags  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import command_line  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn import train_flags  # pylint: disable=import-outside-toplevel

    values = flags.FlagValues()
    train_flags.define(values)
    values(command_line.expand_flagfiles(["s-cnn-rnn-train", f"--flagfile={path}", *extra_args]))
    return values


# ----------------------------------------------------------------------------- data dirs


def photo_like_jpeg(rng: np.random.Generator, height: int = 480, width: int = 640, quality: int = 92) -> bytes:
    """A JPEG with a photo's entropy (gradients, blobs, edges, grain): a COCO image's decode cost."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.where((y < rng.uniform(0.3, 0.7) * height)[..., None], rng.uniform(60, 230, 3), rng.uniform(30, 180, 3))
    for _ in range(6):
        cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.05, 0.25) * height
        weight = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))[..., None]
        image = image * (1 - weight) + rng.uniform(0, 255, 3) * weight
    for _ in range(5):
        top, left = rng.integers(0, height * 3 // 4), rng.integers(0, width * 3 // 4)
        image[top : top + height // 4, left : left + width // 5] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 12, image.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _image_files(image_dir: str, num_images: int, jpeg_dir: str | None) -> tuple[list[str], str]:
    """`num_images` JPEG files in `image_dir`: symlinks to `jpeg_dir`'s JPEGs (cycled), else generated.

    Returns the file names and a description of where the pixels come from.
    """
    os.makedirs(image_dir)
    sources = sorted(glob.glob(os.path.join(jpeg_dir, "*.jp*g"))) if jpeg_dir else []
    rng = np.random.default_rng(0)
    names = []
    for index in range(num_images):
        names.append(f"bench_{index:06d}.jpg")
        path = os.path.join(image_dir, names[-1])
        if sources:
            os.symlink(os.path.abspath(sources[index % len(sources)]), path)
        else:
            with open(path, "wb") as handle:
                handle.write(photo_like_jpeg(rng))
    origin = f"{len(sources)} real JPEGs of {jpeg_dir}, cycled" if sources else "generated 640x480 q92"
    return names, origin


def realistic_caption_data_dir(work_dir: str, num_images: int, vocab_words: int, jpeg_dir: str | None,
                               captions_per_image: int = 5) -> tuple[str, str]:
    """Converts a COCO-format caption set over realistic JPEGs with the project's converter.

    Every word of a `vocab_words`-word pool occurs in some train caption, so words.txt has
    4 specials + `vocab_words` entries and concepts.txt the converter's default 1,000.
    Caption lengths are 8-16 words, like COCO's.

    Returns:
      (data dir, description of the JPEGs).
    """
    raw_dir = os.path.join(work_dir, "raw_coco_style")
    names, origin = _image_files(os.path.join(raw_dir, "images"), num_images, jpeg_dir)
    rng = np.random.default_rng(1)
    next_word, annotations = 0, []
    for image_id in range(1, num_images + 1):
        for _ in range(captions_per_image):
            length = int(rng.integers(8, 17))
            words = [f"w{(next_word + i) % vocab_words}" for i in range(length)]
            next_word += length
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "caption": " ".join(words)})
    if next_word < vocab_words:
        raise ValueError(f"{num_images} images x {captions_per_image} captions cannot cover {vocab_words} words")
    captions_json = os.path.join(raw_dir, "captions.json")
    with open(captions_json, "w", encoding="utf-8") as handle:
        json.dump({"images": [{"id": i + 1, "file_name": name} for i, name in enumerate(names)],
                   "annotations": annotations}, handle)
    data_dir = os.path.join(work_dir, "data_coco_style")
    convert_lib.convert(convert_lib.ConvertOptions(
        dataset="coco_captions", output_dir=data_dir, captions_json=[captions_json],
        image_dirs=[os.path.join(raw_dir, "images")], examples_per_shard=max(num_images // 4, 1),
        show_progress=False,
    ))
    return data_dir, origin


def synthetic_data_dir(work_dir: str, num_train: int, image_size: int) -> str:
    """The built-in synthetic dataset, converted (as `s-cnn-rnn-demo` does, smaller)."""
    data_dir = os.path.join(work_dir, "data_synthetic")
    convert_lib.convert(convert_lib.ConvertOptions(
        dataset="synthetic", output_dir=data_dir, synthetic_num_train=num_train, synthetic_num_val=8, synthetic_num_test=8,
        synthetic_image_size=image_size, show_progress=False,
    ))
    return data_dir


# ----------------------------------------------------------------------------- timing


@dataclasses.dataclass
class Timing:
    """One timed block: examples processed, wall seconds, this process's CPU seconds (all threads)."""

    examples: int
    wall: float
    cpu: float

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.wall

    @property
    def cpu_ms_per_example(self) -> float:
        return 1000.0 * self.cpu / self.examples


class Stopwatch:
    """Wall and process CPU time between `start()` and `stop()`."""

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self, examples: int) -> Timing:
        return Timing(examples, time.perf_counter() - self._wall, time.process_time() - self._cpu)


def interleaved(methods: dict[str, Callable[[], Timing]], repeats: int,
                log: Callable[[str], None] = print) -> dict[str, list[Timing]]:
    """Runs every method once per repeat, rotating the order each repeat (fair on a noisy host)."""
    results = {name: [] for name in methods}
    names = list(methods)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            timing = methods[name]()
            results[name].append(timing)
            log(f"  repeat {repeat + 1}/{repeats} {name:<14} {timing.examples_per_second:9.2f} ex/s "
                f"{timing.cpu_ms_per_example:9.2f} CPU ms/ex  ({timing.wall:.1f} s)")
    return results


def median_rate(timings: list[Timing]) -> float:
    return statistics.median(t.examples_per_second for t in timings)


def median_cpu_ms(timings: list[Timing]) -> float:
    return statistics.median(t.cpu_ms_per_example for t in timings)


def paired_shortfall(numerator: list[Timing], denominator: list[Timing]) -> float:
    """Median over repeats of 1 - rate(numerator) / rate(denominator), measured side by side."""
    return statistics.median(
        1.0 - a.examples_per_second / b.examples_per_second for a, b in zip(numerator, denominator))


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]
