"""Background bands (sky, road, grass, water, sand, snow, walls, floors) and clutter.

Clutter is unlabelled: rocks, bushes, hills, lamp posts, wall pictures, rugs. Several
pieces resemble labelled things on purpose (a bush vs a tree crown, a wall picture vs a
television, a lamp post vs a sign pole), so a model must look at the details.
"""

import numpy as np

from data_prep.synthetic import paint


def _colour(rgb, rng, amount=0.04):
    return paint.jitter(rgb, rng, amount)


def draw_band(pen: paint.Painter, name: str, y0: float, y1: float, rng) -> None:
    """Fills the full-width band between pixel rows y0 and y1 with the region's look."""
    size = pen.size
    box = (0.0, y0, float(size), y1)
    night = pen.night
    if name == "sky":
        if night:
            top, bottom = _colour((0.03, 0.04, 0.12), rng, 0.02), _colour((0.12, 0.14, 0.28), rng)
        else:
            top, bottom = _colour((0.22, 0.42, 0.85), rng), _colour((0.68, 0.82, 0.96), rng)
        pen.rect(box, top, paint.vertical_gradient(y0, y1, bottom))
        if night:
            _stars(pen, y0, y1, rng)
    elif name in ("sidewalk", "kerb"):
        cell = max(3.0, size / 12)
        pen.rect(box, _colour((0.66, 0.64, 0.60), rng),
                 paint.grid(cell, cell * 0.5, _colour((0.6, 0.58, 0.55), rng), 0.85), grain=0.03)
    elif name == "road":
        pen.rect(box, _colour((0.30, 0.30, 0.32), rng, 0.03), grain=0.06)
        middle = (y0 + y1) / 2
        dash = max(3.0, size / 10)
        offset = rng.uniform(0, 2 * dash)
        for x in np.arange(-offset, size, 2 * dash):
            pen.rect((x, middle - max(0.6, size / 120), x + dash, middle + max(0.6, size / 120)),
                     (0.92, 0.92, 0.86))
        if rng.random() < 0.25:  # zebra crossing
            x0 = rng.uniform(0, size * 0.7)
            pen.rect((x0, y0 + 1, x0 + size * 0.25, y1 - 1), (0.3, 0.3, 0.32),
                     paint.stripes(max(2.0, size / 32), 0, (0.9, 0.9, 0.88), 0.5))
    elif name == "grass":
        base = _colour((0.32, 0.60, 0.20) if pen.scene == "park" else (0.45, 0.62, 0.22), rng)
        pen.rect(box, base, paint.blades(max(2.0, size / 24), paint.mix(base, (0, 0.2, 0), 0.3)),
                 grain=0.05)
    elif name == "water":
        base = _colour((0.08, 0.16, 0.3) if night else (0.15, 0.40, 0.66), rng)
        deep = paint.mix(base, (0.0, 0.1, 0.3), 0.4)
        pen.rect(box, base, paint.vertical_gradient(y0, y1, deep))
        pen.rect(box, base, paint.waves(max(2.5, size / 20), _colour((0.55, 0.72, 0.88), rng),
                                        phase=rng.uniform(0, 6)), alpha=0.55)
    elif name == "sand":
        base = _colour((0.87, 0.77, 0.56), rng)
        pen.rect(box, base, paint.speckle(0.08, paint.mix(base, (0.4, 0.3, 0.2), 0.35)),
                 grain=0.03)
    elif name == "snow":
        base = _colour((0.93, 0.95, 0.98), rng, 0.02)
        pen.rect(box, base, paint.vertical_gradient(y0, y1, (0.80, 0.85, 0.94)), grain=0.02)
    elif name == "wall":
        base = _colour(((0.92, 0.88, 0.78), (0.78, 0.84, 0.88), (0.9, 0.8, 0.78),
                        (0.85, 0.88, 0.76))[int(rng.integers(4))], rng)
        paper = paint.stripes(max(2.0, size / 14), 0, paint.mix(base, (0.5, 0.4, 0.3), 0.12), 0.3) \
            if rng.random() < 0.35 else None
        pen.rect(box, base, paper, grain=0.02)
        pen.rect((0.0, y1 - max(1.0, size / 60), float(size), y1), paint.mix(base, (0, 0, 0), 0.4))
    elif name == "floor":
        if rng.random() < 0.6:
            base = _colour((0.58, 0.40, 0.24), rng)
            texture = paint.stripes(max(2.0, size / 16), 90, paint.mix(base, (0, 0, 0), 0.25), 0.12)
        else:
            base = _colour(((0.5, 0.5, 0.55), (0.55, 0.35, 0.35), (0.35, 0.4, 0.55))[
                int(rng.integers(3))], rng)
            texture = None
        pen.rect(box, base, texture, grain=0.05)


def _stars(pen: paint.Painter, y0: float, y1: float, rng) -> None:
    count = int(rng.integers(5, 20))
    for _ in range(count):
        x, y = rng.uniform(0, pen.size), rng.uniform(y0, y1)
        pen.ellipse((x - 0.5, y - 0.5, x + 0.5, y + 0.5), (0.95, 0.95, 0.85), own=False)


def draw_clutter(pen: paint.Painter, scene: str, bands: dict, horizon: float, rng) -> None:
    """Draws 1-6 unlabelled background objects suited to the scene (all in pixels)."""
    size = pen.size
    count = int(rng.integers(1, 7))
    for _ in range(count):
        kind = rng.choice(_CLUTTER[scene])
        x = rng.uniform(-0.05, 1.05) * size
        if kind in ("picture", "shelf"):
            y = rng.uniform(0.1, max(0.12, horizon - 0.25)) * size
        elif kind == "hill":
            y = horizon * size
        elif kind == "wave" and "water" in bands:
            y = rng.uniform(*bands["water"]) * size
        else:
            y = rng.uniform(horizon + 0.05, 1.0) * size
        scale = (0.3 + 0.9 * max(0.0, y / size - horizon) / max(1e-3, 1 - horizon)) * size
        _draw_clutter_piece(pen, kind, x, y, scale, rng)


def _draw_clutter_piece(pen, kind, x, y, scale, rng):
    if kind == "rock":
        r = scale * rng.uniform(0.02, 0.05)
        pen.ellipse((x - r * 1.4, y - r, x + r * 1.4, y + r * 0.3),
                    _colour((0.5, 0.48, 0.45), rng, 0.06), grain=0.08)
    elif kind == "bush":
        r = scale * rng.uniform(0.04, 0.09)
        green = _colour((0.22, 0.45, 0.18), rng, 0.06)
        for dx in (-0.7, 0.0, 0.7):
            pen.ellipse((x + dx * r - r, y - 1.6 * r, x + dx * r + r, y), green, grain=0.1)
    elif kind == "hill":
        r = pen.size * rng.uniform(0.2, 0.45)
        pen.ellipse((x - r, y - 0.25 * r, x + r, y + 0.25 * r),
                    _colour((0.3, 0.5, 0.25), rng, 0.05), grain=0.03)
    elif kind == "post":
        h = scale * rng.uniform(0.35, 0.5)
        dark = _colour((0.2, 0.2, 0.22), rng, 0.03)
        pen.line([(x, y), (x, y - h), (x + 0.1 * h, y - h)], max(1.0, scale * 0.012), dark)
        pen.ellipse((x + 0.07 * h, y - h, x + 0.15 * h, y - 0.96 * h), (1.0, 0.9, 0.6))
    elif kind == "bin":
        w = scale * rng.uniform(0.03, 0.05)
        pen.rect((x - w / 2, y - 1.5 * w, x + w / 2, y), _colour((0.3, 0.4, 0.3), rng, 0.08))
    elif kind == "puddle":
        r = scale * rng.uniform(0.05, 0.1)
        pen.ellipse((x - r, y - 0.2 * r, x + r, y + 0.2 * r), (0.45, 0.5, 0.6), alpha=0.6)
    elif kind == "shell":
        r = scale * rng.uniform(0.008, 0.02)
        pen.ellipse((x - r, y - r, x + r, y + r), _colour((0.95, 0.9, 0.85), rng, 0.05))
    elif kind == "picture":
        w = pen.size * rng.uniform(0.1, 0.2)
        frame = _colour((0.35, 0.25, 0.15), rng, 0.1)
        pen.rect((x - w / 2, y, x + w / 2, y + 0.8 * w), frame)
        pen.rect((x - 0.4 * w, y + 0.1 * w, x + 0.4 * w, y + 0.7 * w),
                 _colour((0.6, 0.6, 0.5), rng, 0.2),
                 paint.vertical_gradient(y, y + 0.8 * w, _colour((0.4, 0.5, 0.4), rng, 0.2)))
    elif kind == "shelf":
        w = pen.size * rng.uniform(0.15, 0.3)
        pen.rect((x - w / 2, y, x + w / 2, y + max(1.0, 0.06 * w)), (0.4, 0.28, 0.16))
    elif kind == "rug":
        r = scale * rng.uniform(0.15, 0.3)
        rug = _colour((0.6, 0.3, 0.3), rng, 0.15)
        pen.ellipse((x - r, y - 0.25 * r, x + r, y + 0.25 * r), rug,
                    paint.stripes(max(2.0, r / 4), 0, paint.mix(rug, (1, 1, 1), 0.3), 0.3))
    elif kind == "wave":
        w = scale * rng.uniform(0.1, 0.3)
        pen.line([(x - w, y), (x, y - 0.05 * w), (x + w, y)], max(1.0, 0.03 * w),
                 (0.9, 0.95, 1.0), alpha=0.8)


_CLUTTER = {
    "street": ("rock", "post", "post", "bin", "puddle", "bush"),
    "park": ("rock", "bush", "bush", "hill", "bin"),
    "room": ("picture", "picture", "shelf", "rug"),
    "beach": ("rock", "shell", "shell", "wave"),
    "farm": ("rock", "bush", "hill", "hill"),
    "harbour": ("wave", "wave", "rock"),
    "winter": ("rock", "bush", "hill"),
}
