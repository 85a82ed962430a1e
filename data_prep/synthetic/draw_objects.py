"""Drawers for vehicles, buildings and outdoor objects (signature as in draw_living)."""

import math

from data_prep.synthetic import paint
from data_prep.synthetic.catalogue import COLOURS

_GLASS = (0.62, 0.76, 0.86)
_NIGHT_GLASS = (0.12, 0.14, 0.22)
_LIT = (1.0, 0.86, 0.45)
_TYRE = (0.07, 0.07, 0.08)


def _glass(pen):
    return _NIGHT_GLASS if pen.night else _GLASS


def draw_car(pen, f, rgb, rng, thing):
    """Car: body, cabin with glass, two dark wheels, head and tail lights."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    pen.polygon(f.pts((0.18, 0.42), (0.30, 0.04), (0.72, 0.04), (0.86, 0.42)), rgb)
    pen.polygon(f.pts((0.26, 0.40), (0.35, 0.12), (0.67, 0.12), (0.77, 0.40)), _glass(pen))
    pen.rect(f.box(0.49, 0.10, 0.53, 0.42), rgb)
    pen.rect(f.box(0.0, 0.38, 1.0, 0.82), rgb, grain=0.03)
    pen.rect(f.box(0.94, 0.45, 1.0, 0.56), _LIT)
    pen.rect(f.box(0.0, 0.45, 0.04, 0.56), (0.9, 0.1, 0.1))
    for u in (0.12, 0.66):
        pen.ellipse(f.box(u, 0.62, u + 0.22, 1.0), _TYRE)
        pen.ellipse(f.box(u + 0.07, 0.74, u + 0.15, 0.88), COLOURS["silver"])


def draw_bus(pen, f, rgb, rng, thing):
    """Bus: long tall box, a row of windows, a door, a white stripe, two wheels."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    pen.rect(f.box(0.0, 0.0, 1.0, 0.86), rgb, grain=0.03)
    for i in range(5):
        u = 0.04 + i * 0.155
        pen.rect(f.box(u, 0.12, u + 0.12, 0.45), _glass(pen))
    pen.rect(f.box(0.84, 0.12, 0.95, 0.80), _glass(pen))
    pen.rect(f.box(0.0, 0.55, 0.82, 0.60), COLOURS["white"])
    for u in (0.10, 0.68):
        pen.ellipse(f.box(u, 0.68, u + 0.16, 1.0), _TYRE)


def draw_bicycle(pen, f, rgb, rng, thing):
    """Bicycle: two thin black rings and a coloured diamond frame."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    tyre = max(1.0, 0.05 * abs(f.w))
    pen.ring(f.box(0.0, 0.44, 0.42, 1.0), tyre, _TYRE)
    pen.ring(f.box(0.58, 0.44, 1.0, 1.0), tyre, _TYRE)
    width = max(1.0, 0.045 * abs(f.w))
    pen.line(f.pts((0.21, 0.72), (0.47, 0.72), (0.38, 0.36), (0.21, 0.72)), width, rgb)
    pen.line(f.pts((0.47, 0.72), (0.72, 0.38), (0.79, 0.72)), width, rgb)
    pen.line(f.pts((0.38, 0.36), (0.72, 0.38)), width, rgb)
    pen.line(f.pts((0.72, 0.38), (0.70, 0.18), (0.80, 0.18)), width, _TYRE)
    pen.rect(f.box(0.31, 0.27, 0.45, 0.33), _TYRE)


def draw_boat(pen, f, rgb, rng, thing):
    """Boat: trapezoid hull with a light stripe; a white sail or a cabin."""
    f = f.mirrored(thing.variant % 2 == 1)
    pen.polygon(f.pts((0.0, 0.62), (1.0, 0.62), (0.84, 1.0), (0.16, 1.0)), rgb, grain=0.03)
    pen.rect(f.box(0.04, 0.62, 0.96, 0.70), paint.lighter(rgb, 0.5))
    if thing.variant % 3:
        pen.line(f.pts((0.47, 0.0), (0.47, 0.63)), max(1.0, 0.025 * abs(f.w)),
                 COLOURS["brown"])
        sail = paint.jitter((0.96, 0.94, 0.86), rng, 0.02)
        pen.polygon(f.pts((0.50, 0.02), (0.50, 0.58), (0.88, 0.58)), sail)
        if thing.variant % 3 == 2:
            pen.polygon(f.pts((0.44, 0.08), (0.44, 0.58), (0.16, 0.58)), sail)
    else:
        pen.rect(f.box(0.28, 0.34, 0.70, 0.63), COLOURS["white"])
        pen.rect(f.box(0.33, 0.42, 0.65, 0.52), _glass(pen))


def draw_plane(pen, f, rgb, rng, thing):
    """Plane: a long fuselage, swept wing and a tail fin."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    pen.polygon(f.pts((0.0, 0.42), (0.06, 0.0), (0.16, 0.0), (0.22, 0.42)), paint.darker(rgb, 0.8))
    pen.ellipse(f.box(0.0, 0.34, 1.0, 0.66), rgb)
    wing = paint.darker(rgb, 0.75)
    pen.polygon(f.pts((0.38, 0.50), (0.62, 0.50), (0.48, 1.0), (0.40, 1.0)), wing)


def draw_building(pen, f, rgb, rng, thing):
    """Building: a tall block with a grid of windows (half of them lit at night)."""
    del thing
    cell_w, cell_h = max(2.0, 0.2 * f.w), max(2.0, 0.09 * f.h)
    windows = paint.grid(cell_w, cell_h, _LIT if pen.night else _GLASS, 0.55,
                         (f.x0 + 0.05 * f.w, f.y0 + 0.05 * f.h),
                         lit=0.5 if pen.night else 1.0)
    pen.rect((f.x0, f.y0, f.x1, f.y1), rgb, windows, grain=0.03)
    pen.rect(f.box(-0.02, 0.0, 1.02, 0.04), paint.darker(rgb))
    if rng.random() < 0.3:
        pen.rect(f.box(0.4, -0.08, 0.6, 0.0), paint.darker(rgb, 0.8))


def draw_house(pen, f, rgb, rng, thing):
    """House: walls, a triangular roof, a door and two crossed windows."""
    roof = paint.jitter(((0.55, 0.16, 0.12), (0.35, 0.25, 0.2), (0.35, 0.36, 0.4))[
        thing.variant % 3], rng, 0.03)
    bricks = paint.stripes(max(2.0, 0.06 * f.h), 90, paint.darker(rgb, 0.8), 0.2) \
        if thing.colour == "red" else None
    if thing.variant % 4 == 0:
        pen.rect(f.box(0.68, 0.05, 0.78, 0.35), paint.darker(rgb, 0.7))
    pen.rect(f.box(0.1, 0.45, 0.9, 1.0), rgb, bricks, grain=0.02)
    pen.polygon(f.pts((0.0, 0.48), (0.5, 0.0), (1.0, 0.48)), roof)
    pen.rect(f.box(0.43, 0.68, 0.58, 1.0), (0.4, 0.24, 0.12))
    window = _LIT if pen.night else _GLASS
    for u in (0.18, 0.67):
        pen.rect(f.box(u, 0.58, u + 0.16, 0.76), window)
        pen.line([f.p(u + 0.08, 0.58), f.p(u + 0.08, 0.76)], max(1.0, 0.02 * f.w),
                 COLOURS["white"])


def draw_fence(pen, f, rgb, rng, thing):
    """Fence: two rails and regularly spaced posts."""
    del rng, thing
    posts = max(3, int(round(f.w / max(3.0, 0.8 * f.h))))
    for v in (0.22, 0.58):
        pen.rect(f.box(0.0, v, 1.0, v + 0.13), rgb)
    for i in range(posts + 1):
        u = i / posts
        pen.rect(f.box(u - 0.012, 0.0, u + 0.012, 1.0), rgb, grain=0.04)


def draw_bench(pen, f, rgb, rng, thing):
    """Bench: two back slats, a seat and black legs."""
    del rng, thing
    for v in (0.0, 0.24):
        pen.rect(f.box(0.02, v, 0.98, v + 0.15), rgb, grain=0.04)
    pen.rect(f.box(0.0, 0.48, 1.0, 0.64), rgb, grain=0.04)
    for u in (0.08, 0.90):
        pen.line([f.p(u, 0.0), f.p(u, 1.0)], max(1.0, 0.03 * f.w), COLOURS["black"])


def draw_sign(pen, f, rgb, rng, thing):
    """Stop sign: a red octagon with a white rim and a white bar, on a grey pole."""
    del rgb, rng, thing
    pen.line([f.p(0.5, 0.3), f.p(0.5, 1.0)], max(1.0, 0.09 * f.w), COLOURS["grey"])
    centre_x, centre_y = f.p(0.5, 0.17)
    for radius, colour in ((0.52 * f.w, COLOURS["white"]), (0.44 * f.w, COLOURS["red"])):
        corners = [math.pi * (k / 4 + 1 / 8) for k in range(8)]
        pen.polygon([(centre_x + radius * math.cos(a), centre_y + radius * math.sin(a))
                     for a in corners], colour)
    pen.rect((f.x0 + 0.22 * f.w, centre_y - 0.06 * f.w, f.x0 + 0.78 * f.w, centre_y + 0.06 * f.w),
             COLOURS["white"])


def draw_umbrella(pen, f, rgb, rng, thing):
    """Beach umbrella: striped half-disc canopy on a pole."""
    del rng, thing
    pen.line([f.p(0.5, 0.4), f.p(0.5, 1.0)], max(1.0, 0.04 * f.w), (0.85, 0.85, 0.85))
    canopy = paint.stripes(max(2.0, 0.25 * f.w), 0, COLOURS["white"], 0.5,
                           phase=-f.x0 / max(2.0, 0.25 * f.w))
    pen.pieslice(f.box(0.0, 0.0, 1.0, 0.9), 180, 360, rgb, canopy)


def draw_ball(pen, f, rgb, rng, thing):
    """Ball: a disc with a band or dark spots and a highlight."""
    del rng
    if thing.variant % 2:
        texture = paint.stripes(max(1.5, 0.33 * f.h), 90, COLOURS["white"], 0.33,
                                phase=-f.y0 / max(1.5, 0.33 * f.h))
    else:
        texture = paint.blobs(max(1.0, 0.12 * f.w), COLOURS["black"], 1.0, (0.3, 1.1, 2.0, 0.5))
    pen.ellipse((f.x0, f.y0, f.x1, f.y1), rgb, texture)
    pen.ellipse(f.box(0.22, 0.18, 0.42, 0.36), COLOURS["white"], alpha=0.6, own=False)


def draw_kite(pen, f, rgb, rng, thing):
    """Kite: a diamond with a dark cross and a zigzag tail."""
    del rng, thing
    dark = paint.darker(rgb, 0.4)
    width = max(1.0, 0.05 * f.w)
    pen.line(f.pts((0.5, 0.72), (0.38, 0.82), (0.62, 0.90), (0.45, 1.0)), width, dark)
    pen.polygon(f.pts((0.5, 0.0), (1.0, 0.28), (0.5, 0.72), (0.0, 0.28)), rgb)
    pen.line(f.pts((0.5, 0.0), (0.5, 0.72)), width, dark)
    pen.line(f.pts((0.0, 0.28), (1.0, 0.28)), width, dark)


DRAWERS = {
    "car": draw_car, "bus": draw_bus, "bicycle": draw_bicycle, "boat": draw_boat,
    "plane": draw_plane, "building": draw_building, "house": draw_house, "fence": draw_fence,
    "bench": draw_bench, "sign": draw_sign, "umbrella": draw_umbrella, "ball": draw_ball,
    "kite": draw_kite,
}
