"""Drawers for sky things, trees, flowers and mountains (signature as in draw_living)."""

import math

from data_prep.synthetic import paint
from data_prep.synthetic.catalogue import COLOURS

_TRUNK = (0.38, 0.24, 0.12)
_RAINBOW = ((0.9, 0.15, 0.15), (0.98, 0.55, 0.1), (0.98, 0.92, 0.2), (0.25, 0.75, 0.25),
            (0.2, 0.4, 0.9), (0.5, 0.25, 0.75))


def draw_tree(pen, f, rgb, rng, thing):
    """Tree: a leafy round crown on a brown trunk, or a layered pine (always in snow)."""
    leaves = paint.blobs(max(1.2, 0.08 * f.w), paint.darker(rgb, 0.65), 0.3,
                         tuple(rng.uniform(0, 6, 4)))
    if thing.variant % 3 == 0 or pen.scene == "winter":
        pen.rect(f.box(0.44, 0.75, 0.56, 1.0), _TRUNK)
        dark = paint.darker(rgb, 0.7)
        for top, bottom, half in ((0.0, 0.45, 0.32), (0.2, 0.65, 0.42), (0.38, 0.82, 0.5)):
            pen.polygon(f.pts((0.5, top), (0.5 + half, bottom), (0.5 - half, bottom)), dark,
                        grain=0.06)
        return
    pen.rect(f.box(0.42, 0.5, 0.58, 1.0), _TRUNK, grain=0.05)
    for box in ((0.04, 0.18, 0.60, 0.62), (0.40, 0.14, 0.96, 0.60), (0.16, 0.0, 0.84, 0.46)):
        pen.ellipse(f.box(*box), rgb, leaves, grain=0.06)


def draw_flower(pen, f, rgb, rng, thing):
    """A small bunch of blossoms on green stems, each with a yellow centre."""
    del thing
    stem = (0.2, 0.5, 0.15)
    count = int(rng.integers(3, 6))
    width = max(1.0, 0.05 * f.w)
    for k in range(count):
        u = 0.15 + 0.7 * (k + rng.uniform(-0.2, 0.2)) / max(1, count - 1)
        v = rng.uniform(0.05, 0.4)
        pen.line([f.p(0.5 + (u - 0.5) * 0.4, 1.0), f.p(u, v + 0.1)], width, stem)
        radius_u, radius_v = 0.13, 0.13 * f.w / max(1e-3, f.h)
        petal = paint.jitter(rgb, rng, 0.04)
        pen.ellipse(f.box(u - radius_u, v - radius_v, u + radius_u, v + radius_v), petal)
        pen.ellipse(f.box(u - 0.045, v - 0.4 * radius_v, u + 0.045, v + 0.4 * radius_v),
                    COLOURS["yellow"])


def draw_mountain(pen, f, rgb, rng, thing):
    """A range of one to three grey-blue peaks, some with snow caps."""
    del rgb
    base = paint.jitter(((0.45, 0.5, 0.6), (0.5, 0.45, 0.4), (0.4, 0.45, 0.42))[
        thing.variant % 3], rng, 0.03)
    peaks = 1 + thing.variant % 3
    points = [(0.0, 1.0)]
    for k in range(peaks):
        u = (k + 0.5 + rng.uniform(-0.2, 0.2)) / peaks
        points.append((u, rng.uniform(0.0, 0.35) if k else 0.0))
        if k < peaks - 1:
            points.append(((k + 1) / peaks, rng.uniform(0.45, 0.7)))
    points.append((1.0, 1.0))
    pen.polygon(f.pts(*points), base, grain=0.04)
    snow = pen.scene == "winter" or (thing.variant // 3) % 2 == 0
    for i in range(1, len(points) - 1, 2):
        if not snow:
            break
        (pu, pv), (lu, lv), (ru, rv) = points[i], points[i - 1], points[i + 1]
        t = 0.3
        left = (pu + (lu - pu) * t, pv + (lv - pv) * t)
        right = (pu + (ru - pu) * t, pv + (rv - pv) * t)
        middle = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2 - 0.05)
        pen.polygon(f.pts((pu, pv), right, middle, left), COLOURS["white"])


def draw_cloud(pen, f, rgb, rng, thing):
    """Cloud: overlapping soft white or grey puffs with a flattish bottom."""
    del thing
    puffs = int(rng.integers(3, 6))
    for k in range(puffs):
        u = (k + 0.5) / puffs + rng.uniform(-0.06, 0.06)
        half_w = rng.uniform(0.16, 0.28)
        top = rng.uniform(0.0, 0.35)
        pen.ellipse(f.box(u - half_w, top, u + half_w, 1.0), paint.mix(rgb, (1, 1, 1), 0.1 * k),
                    alpha=0.92, grain=0.02)


def draw_sun(pen, f, rgb, rng, thing):
    """Sun: a bright yellow disc in a pale glow."""
    del rgb, rng, thing
    pen.ellipse(f.box(-0.4, -0.4, 1.4, 1.4), (1.0, 0.97, 0.8), alpha=0.3, own=False)
    pen.ellipse((f.x0, f.y0, f.x1, f.y1), (1.0, 0.88, 0.25))


def draw_moon(pen, f, rgb, rng, thing):
    """Moon: a pale grey-white disc with darker maria."""
    del rgb, thing
    maria = paint.blobs(max(1.0, 0.15 * f.w), (0.72, 0.72, 0.68), 0.9,
                        tuple(rng.uniform(0, 6, 4)))
    pen.ellipse(f.box(-0.25, -0.25, 1.25, 1.25), (0.6, 0.6, 0.7), alpha=0.15, own=False)
    pen.ellipse((f.x0, f.y0, f.x1, f.y1), (0.93, 0.93, 0.86), maria)


def draw_rainbow(pen, f, rgb, rng, thing):
    """Rainbow: six concentric half-transparent arcs standing on the horizon."""
    del rgb, rng, thing
    band = max(1.0, 0.035 * f.w)
    for k, colour in enumerate(_RAINBOW):
        inset = k * band
        pen.arc((f.x0 + inset, f.y0 + inset, f.x1 - inset, f.y1 + f.h - inset), 180, 360,
                band + 0.5, colour, alpha=0.55)


def draw_plant(pen, f, rgb, rng, thing):
    """Potted plant: a terracotta or white pot with long leaves fanning upwards."""
    del rgb
    pot = ((0.75, 0.38, 0.22), (0.9, 0.9, 0.88), (0.3, 0.3, 0.32))[thing.variant % 3]
    green = paint.jitter((0.18, 0.52, 0.2), rng, 0.05)
    width = max(1.0, 0.16 * f.w)
    leaves = int(rng.integers(5, 8))
    for k in range(leaves):
        angle = math.radians(-160 + 140 * k / (leaves - 1) + rng.uniform(-8, 8))
        length = rng.uniform(0.45, 0.62)
        tip = (0.5 + math.cos(angle) * length * 0.9 * f.h / max(1e-3, f.w) * 0.5,
               0.62 + math.sin(angle) * length)
        pen.line([f.p(0.5, 0.62), f.p(*tip)], width, paint.lighter(green, 0.1 * (k % 2)))
    pen.polygon(f.pts((0.22, 0.6), (0.78, 0.6), (0.68, 1.0), (0.32, 1.0)), pot, grain=0.03)


DRAWERS = {
    "tree": draw_tree, "flower": draw_flower, "mountain": draw_mountain, "cloud": draw_cloud,
    "sun": draw_sun, "moon": draw_moon, "rainbow": draw_rainbow, "plant": draw_plant,
}
