"""Single-label images of the synthetic world: one catalogue object per image (an "ImageNet").

The miniature tables start from a backbone pretrained on single-object recognition, as the
paper's rows start from ImageNet. This module draws that pretraining set with the dataset's
own painting code: a scene's background (bands and unlabelled clutter, day or night) sampled
by `world.sample_layout`, with its objects removed, and ONE object of one label at a random
position, size, colour and look, drawn by the label's drawer through `render_layout.render`.

Classes (`CLASSES`): every label that is an object. The region labels (sky, road, grass,
water, sand, snow) are not classes: they are bands of the background that fill the image's
width, so an image "of sky" would be a background and nothing else, and every image already
shows one or more of them behind its object (the backbone sees them anyway).

Disjoint from the tables' images: the dataset draws image `image_id` of seed `seed` from
`SeedSequence([seed, image_id])` with `1 <= image_id <= 999,999`; image `index` of split
`split` here comes from `SeedSequence([seed, DOMAIN, split, index])`, whose second word
`DOMAIN` is above every dataset image id. No entropy the dataset uses is ever ours, whatever
the two seeds, and the layouts differ besides (one object, placed at random, not a scene).
The splits ("train", "heldout") are disjoint by their third word. Deterministic: an image
depends only on (seed, split, index), like the dataset's on (seed, image_id).

Example:
  drawn = single_object.draw_images(seed=0, split="train", count=100, image_size=96)
  drawn.images  # uint8 [100, 96, 96, 3]; drawn.labels: int32 [100], indices into CLASSES
"""

import dataclasses

import numpy as np

from data_prep.synthetic import catalogue
from data_prep.synthetic import render_layout
from data_prep.synthetic import scene_types
from data_prep.synthetic import world

# The object labels, in the catalogue's order: class i is CLASSES[i].
CLASSES = tuple(name for name in catalogue.LABEL_NAMES if name not in catalogue.REGION_LABELS)
SPLITS = ("train", "heldout")
# Second entropy word of every stream here: above every image id the dataset generator uses
# (generator._MAX_IMAGES = 999,999), so no (seed, image_id) of a table's image is ever ours.
DOMAIN = 1_000_003
# The object's longer side, as a share of the image side.
_SIDE_RANGE = (0.3, 0.9)
_MAX_ATTEMPTS = 8  # redraws of an image whose object is not visible (too few pixels at a tiny size)


def image_rngs(seed: int, split: str, index: int) -> dict:
    """Independent generators ("layout", "paint") for image `index` of `split`.

    Raises:
      ValueError: unknown split, or a negative seed or index.
    """
    if split not in SPLITS:
        raise ValueError(f"single-object images: split must be one of {SPLITS}, got {split!r}")
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"single-object images: seed={seed} and index={index} must be >= 0")
    streams = np.random.SeedSequence([int(seed), DOMAIN, SPLITS.index(split), int(index)]).spawn(2)
    return {name: np.random.default_rng(stream) for name, stream in zip(("layout", "paint"), streams)}


def sample_object_layout(rng: np.random.Generator, label: str) -> world.Layout:
    """A scene's background (its bands and region labels) with one `label` object on it.

    Args:
      rng: the layout generator.
      label: one of `CLASSES`.
    """
    layout = world.sample_layout(rng)
    layout.things = [thing for thing in layout.things if thing.place == "region"]
    # The object's scale is its own here (a share of the image), not the scene's perspective.
    _, aspect = scene_types.SIZES[label]
    if label == "rainbow":
        aspect = 2.0  # its drawer fills a box twice as wide as high
    side = rng.uniform(*_SIDE_RANGE)
    box_w, box_h = (side, side / aspect) if aspect >= 1.0 else (side * aspect, side)
    box_w *= rng.uniform(0.9, 1.1)
    # Mostly inside the image: at most a fifth of the box's width (height) lies outside it.
    x_centre = rng.uniform(0.3 * box_w, 1.0 - 0.3 * box_w)
    y_centre = rng.uniform(0.3 * box_h, 1.0 - 0.3 * box_h)
    spec = catalogue.LABELS[label]
    colour = spec.colours[int(rng.integers(len(spec.colours)))] if spec.colours else None
    # The place only changes the look of a few drawers (a bird flies in the sky, sits elsewhere).
    place = "sky" if y_centre < layout.horizon and rng.random() < 0.5 else "ground"
    layout.things.append(world.Thing(
        label, (x_centre - box_w / 2, y_centre - box_h / 2, x_centre + box_w / 2, y_centre + box_h / 2),
        place, depth=0.0, colour=colour, variant=int(rng.integers(1 << 30))))
    return layout


def draw_image(seed: int, split: str, index: int, image_size: int) -> tuple[np.ndarray, int]:
    """Draws image `index` of `split`: its class is `index % len(CLASSES)` (balanced classes).

    Returns:
      image: uint8 `[image_size, image_size, 3]`.
      label: the class index (into `CLASSES`).
    """
    label = index % len(CLASSES)
    rngs = image_rngs(seed, split, index)
    for _ in range(_MAX_ATTEMPTS):
        layout = sample_object_layout(rngs["layout"], CLASSES[label])
        pixels, visible = render_layout.render(layout, image_size, rngs["paint"])
        if any(layout.things[v.index].place != "region" for v in visible):
            return pixels, label
    raise AssertionError(f"single-object image {split}/{index}: the object stayed hidden")


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Drawn images and their classes.

    Attributes:
      images: uint8 `[N, S, S, 3]`.
      labels: int32 `[N]`, indices into `CLASSES`.
    """

    images: np.ndarray
    labels: np.ndarray


def draw_images(seed: int, split: str, count: int, image_size: int) -> ImageSet:
    """Images 0 .. count - 1 of `split`, in memory; every class `count // len(CLASSES)` times or once more."""
    images = np.zeros((count, image_size, image_size, 3), np.uint8)
    labels = np.zeros((count,), np.int32)
    for index in range(count):
        images[index], labels[index] = draw_image(seed, split, index, image_size)
    return ImageSet(images, labels)
