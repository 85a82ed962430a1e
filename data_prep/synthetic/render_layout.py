"""Drawing a sampled layout into pixels, and measuring what stayed visible.

Order: background bands (top to bottom), unlabelled clutter, then objects from far to
near (sky things, the horizon, the ground by the y of their base), so nearer objects
occlude farther ones. An instance whose visible part is tiny or mostly hidden is
reported as not visible and loses its label.
"""

import dataclasses

import numpy as np

from data_prep.synthetic import backgrounds
from data_prep.synthetic import catalogue
from data_prep.synthetic import draw_indoor
from data_prep.synthetic import draw_living
from data_prep.synthetic import draw_nature
from data_prep.synthetic import draw_objects
from data_prep.synthetic import paint
from data_prep.synthetic.world import Layout

DRAWERS = {**draw_living.DRAWERS, **draw_objects.DRAWERS, **draw_nature.DRAWERS,
           **draw_indoor.DRAWERS}
if set(DRAWERS) | set(catalogue.REGION_LABELS) != set(catalogue.LABEL_NAMES):
    raise AssertionError("every non-region label needs exactly one drawer")

# An instance counts as visible with at least this many pixels ...
MIN_VISIBLE_PIXELS = 4
# ... and at least this share of the pixels it covered when it was drawn.
MIN_VISIBLE_SHARE = 0.15


@dataclasses.dataclass(frozen=True)
class Visible:
    """A visible instance: its index in `Layout.things`, pixel bbox (x, y, w, h) and area."""

    index: int
    bbox: tuple[int, int, int, int]
    area: int


def render(layout: Layout, size: int, rng: np.random.Generator,
           supersample: int = 2) -> tuple[np.ndarray, list[Visible]]:
    """Draws `layout` at `size` x `size` pixels.

    Returns:
      image: uint8 `[size, size, 3]`.
      visible: the visible instances (regions included), in `Layout.things` order.
    """
    pen = paint.Painter(size, rng, supersample, night=layout.night, scene=layout.scene)
    things = layout.things
    region_owner = {t.label: i + 1 for i, t in enumerate(things) if t.place == "region"}
    drawn = np.zeros(len(things) + 1, np.int64)
    for name, (y0, y1) in sorted(layout.bands.items(), key=lambda item: item[1][0]):
        pen.owner_id = region_owner.get(name, 0)
        backgrounds.draw_band(pen, name, y0 * size, y1 * size, rng)
    for owner in region_owner.values():
        drawn[owner] = np.count_nonzero(pen.owner == owner)
    pen.owner_id = 0
    backgrounds.draw_clutter(pen, layout.scene, layout.bands, layout.horizon, rng)
    order = sorted((i for i, t in enumerate(things) if t.place != "region"),
                   key=lambda i: (things[i].depth, i))
    for index in order:
        thing = things[index]
        pen.owner_id = index + 1
        rgb = paint.jitter(catalogue.COLOURS[thing.colour], rng) if thing.colour else None
        frame = paint.Frame(tuple(c * size for c in thing.box))
        DRAWERS[thing.label](pen, frame, rgb, rng, thing)
        drawn[index + 1] = np.count_nonzero(pen.owner == index + 1)
    pen.owner_id = 0
    _draw_kite_strings(pen, layout, size)
    image = pen.finish(rng)
    return image, _measure(pen.owner, drawn)


def _draw_kite_strings(pen: paint.Painter, layout: Layout, size: int) -> None:
    for thing in layout.things:
        if thing.label == "kite" and thing.partner >= 0:
            x0, _, x1, y1 = thing.box
            hand = layout.things[thing.partner].box
            pen.line([((x0 + x1) / 2 * size, y1 * size), (hand[2] * size, hand[1] * size)],
                     max(0.6, size / 160), (0.2, 0.2, 0.2), alpha=0.6, own=False)


def _measure(owner: np.ndarray, drawn: np.ndarray) -> list[Visible]:
    counts = np.bincount(owner.ravel(), minlength=len(drawn))
    visible = []
    for owner_id in range(1, len(drawn)):
        area = int(counts[owner_id])
        if area < MIN_VISIBLE_PIXELS or area < MIN_VISIBLE_SHARE * drawn[owner_id]:
            continue
        rows = np.flatnonzero((owner == owner_id).any(axis=1))
        cols = np.flatnonzero((owner == owner_id).any(axis=0))
        bbox = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                int(rows[-1] - rows[0] + 1))
        visible.append(Visible(owner_id - 1, bbox, area))
    return visible
