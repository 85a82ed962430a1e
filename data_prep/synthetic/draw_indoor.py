"""Drawers for furniture and indoor things (signature as in draw_living).

Deliberate look-alikes: a television and a wall picture (clutter) are both framed
rectangles, a window is a framed rectangle of sky; a clock, a ball and the sun are discs.
"""

from data_prep.synthetic import paint
from data_prep.synthetic.catalogue import COLOURS

_GLASS = (0.62, 0.78, 0.92)


def _wood(f, rgb):
    return paint.stripes(max(1.5, 0.05 * f.h), 90, paint.darker(rgb, 0.82), 0.3)


def draw_table(pen, f, rgb, rng, thing):
    """Table: a lighter top surface in perspective, a front edge, four legs."""
    del rng, thing
    dark = paint.darker(rgb, 0.75)
    for u in (0.2, 0.76):
        pen.rect(f.box(u, 0.27, u + 0.04, 0.86), paint.darker(rgb, 0.6))
    pen.polygon(f.pts((0.05, 0.0), (0.95, 0.0), (1.0, 0.16), (0.0, 0.16)), paint.lighter(rgb, 0.15),
                _wood(f, rgb))
    pen.rect(f.box(0.0, 0.16, 1.0, 0.27), dark)
    for u in (0.03, 0.90):
        pen.rect(f.box(u, 0.27, u + 0.07, 1.0), dark)


def draw_chair(pen, f, rgb, rng, thing):
    """Chair: two back posts with a top rail, a seat and two front legs."""
    del rng, thing
    pen.rect(f.box(0.08, 0.0, 0.92, 0.12), rgb, grain=0.03)
    for u in (0.08, 0.78):
        pen.rect(f.box(u, 0.0, u + 0.14, 0.55), rgb)
        pen.rect(f.box(u - 0.04, 0.6, u + 0.1, 1.0), paint.darker(rgb, 0.7))
    pen.rect(f.box(0.0, 0.50, 1.0, 0.63), paint.lighter(rgb, 0.15), grain=0.03)


def draw_lamp(pen, f, rgb, rng, thing):
    """Floor lamp: a round base, a thin pole and a flared shade with a warm glow."""
    del rng, thing
    dark = (0.15, 0.15, 0.15)
    pen.ellipse(f.box(-0.6, 0.0, 1.6, 0.7), (1.0, 0.9, 0.6), alpha=0.18, own=False)
    pen.ellipse(f.box(0.15, 0.92, 0.85, 1.0), dark)
    pen.line([f.p(0.5, 0.25), f.p(0.5, 0.96)], max(1.0, 0.08 * f.w), dark)
    pen.polygon(f.pts((0.28, 0.0), (0.72, 0.0), (1.0, 0.28), (0.0, 0.28)), rgb, grain=0.03)


def draw_book(pen, f, rgb, rng, thing):
    """A closed book lying flat: coloured cover, cream page edge, a spine band."""
    del rng, thing
    pen.rect(f.box(0.0, 0.15, 1.0, 1.0), rgb)
    pen.rect(f.box(0.06, 0.40, 1.0, 0.78), (0.95, 0.92, 0.8))
    pen.rect(f.box(0.0, 0.15, 0.12, 1.0), paint.darker(rgb, 0.7))


def draw_cup(pen, f, rgb, rng, thing):
    """Cup: a short cylinder with a handle ring and dark coffee on top."""
    del rng, thing
    pen.ring(f.box(0.55, 0.28, 1.0, 0.78), max(1.0, 0.12 * f.w), rgb)
    pen.rect(f.box(0.05, 0.12, 0.72, 1.0), rgb)
    pen.ellipse(f.box(0.05, 0.04, 0.72, 0.24), (0.35, 0.2, 0.1))


def draw_television(pen, f, rgb, rng, thing):
    """Television: a black frame, a glowing screen with a picture, a small stand."""
    del rgb, thing
    frame = (0.08, 0.08, 0.09)
    pen.rect(f.box(0.25, 0.94, 0.75, 1.0), frame)
    pen.rect(f.box(0.44, 0.84, 0.56, 0.96), frame)
    pen.rect(f.box(0.0, 0.0, 1.0, 0.86), frame)
    top = paint.jitter((0.3, 0.55, 0.95), rng, 0.1)
    bottom = paint.jitter((0.2, 0.7, 0.35), rng, 0.15)
    x0, y0, x1, y1 = f.box(0.06, 0.07, 0.94, 0.78)
    pen.rect((x0, y0, x1, y1), top, paint.vertical_gradient(y0, y1, bottom))
    if rng.random() < 0.6:
        pen.ellipse(f.box(0.3 + rng.uniform(0, 0.3), 0.2, 0.55 + rng.uniform(0, 0.3), 0.6),
                    paint.jitter((0.9, 0.7, 0.5), rng, 0.15))


def draw_window(pen, f, rgb, rng, thing):
    """Wall window: a white or brown frame around sky-blue panes, a cross bar, curtains."""
    del rgb
    frame = (COLOURS["white"], (0.45, 0.3, 0.18))[thing.variant % 2]
    glass = (0.08, 0.1, 0.2) if pen.night else paint.jitter(_GLASS, rng, 0.04)
    pen.rect((f.x0, f.y0, f.x1, f.y1), frame)
    x0, y0, x1, y1 = f.box(0.08, 0.08, 0.92, 0.92)
    pen.rect((x0, y0, x1, y1), paint.lighter(glass, 0.2), paint.vertical_gradient(y0, y1, glass))
    pen.rect(f.box(0.46, 0.05, 0.54, 0.95), frame)
    pen.rect(f.box(0.05, 0.46, 0.95, 0.54), frame)
    if thing.variant % 3 == 0:
        curtain = paint.jitter(((0.7, 0.2, 0.2), (0.3, 0.4, 0.7), (0.8, 0.7, 0.4))[
            thing.variant % 4 % 3], rng, 0.05)
        for box in ((-0.12, -0.04, 0.14, 1.06), (0.86, -0.04, 1.12, 1.06)):
            pen.rect(f.box(*box), curtain, paint.stripes(max(1.5, 0.06 * f.w), 0,
                                                         paint.darker(curtain, 0.8), 0.4))


def draw_clock(pen, f, rgb, rng, thing):
    """Wall clock: a dark rim, a white face, four ticks and two hands."""
    del rgb
    dark = (0.1, 0.1, 0.12)
    pen.ellipse((f.x0, f.y0, f.x1, f.y1), dark)
    pen.ellipse(f.box(0.1, 0.1, 0.9, 0.9), COLOURS["white"])
    for u, v in ((0.5, 0.17), (0.83, 0.5), (0.5, 0.83), (0.17, 0.5)):
        pen.ellipse(f.box(u - 0.04, v - 0.04, u + 0.04, v + 0.04), dark)
    width = max(1.0, 0.07 * f.w)
    hour = (thing.variant % 4) / 4
    tips = (((0.5, 0.26), (0.74, 0.5), (0.5, 0.74), (0.26, 0.5))[int(hour * 4)],
            (0.5 + 0.3 * rng.uniform(-1, 1), 0.22))
    for tip in tips:
        pen.line([f.p(0.5, 0.5), f.p(*tip)], width, dark)


DRAWERS = {
    "table": draw_table, "chair": draw_chair, "lamp": draw_lamp, "book": draw_book,
    "cup": draw_cup, "television": draw_television, "window": draw_window, "clock": draw_clock,
}
