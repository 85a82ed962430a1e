"""Drawers for people and animals.

Every drawer has the signature `draw(pen, frame, rgb, rng, thing)`: `frame` maps the
instance's box, `rgb` is its jittered body colour (None for labels without one). Animals
face right or left by `thing.variant`. Look-alikes differ on purpose only in details:
a dog has floppy ears and a low tail, a cat pointed ears and an upright tail; a horse is
tall with a long neck, a cow is boxy and spotted, a sheep is a white fluffy cluster.
"""

from data_prep.synthetic import paint
from data_prep.synthetic.catalogue import COLOURS

_SKIN = ((0.96, 0.80, 0.66), (0.86, 0.64, 0.46), (0.62, 0.42, 0.28), (0.42, 0.28, 0.18))
_HAIR = ((0.10, 0.08, 0.06), (0.40, 0.24, 0.10), (0.90, 0.78, 0.40), (0.55, 0.55, 0.55))
_TROUSERS = ((0.12, 0.16, 0.35), (0.10, 0.10, 0.10), (0.40, 0.30, 0.20), (0.45, 0.45, 0.48))


def draw_person(pen, f, rgb, rng, thing):
    """Stick-figure person: legs, shirt-coloured torso and arms, head with hair."""
    skin = _SKIN[int(rng.integers(len(_SKIN)))]
    hair = _HAIR[int(rng.integers(len(_HAIR)))]
    trousers = paint.jitter(_TROUSERS[int(rng.integers(len(_TROUSERS)))], rng, 0.03)
    limb = max(1.0, 0.14 * f.w)
    stride = 0.12 if thing.variant % 3 == 0 else 0.0  # walking
    pen.line(f.pts((0.40, 0.58), (0.38 - stride, 0.99)), limb * 1.3, trousers)
    pen.line(f.pts((0.60, 0.58), (0.62 + stride, 0.99)), limb * 1.3, trousers)
    pen.polygon(f.pts((0.22, 0.22), (0.78, 0.22), (0.72, 0.62), (0.28, 0.62)), rgb, grain=0.04)
    right_hand = (0.95, 0.02) if thing.relation == "flying" else (0.86, 0.55)
    pen.line(f.pts((0.26, 0.26), (0.13, 0.56)), limb, rgb)
    pen.line(f.pts((0.74, 0.26), right_hand), limb, rgb)
    pen.ellipse(f.box(0.30, 0.0, 0.70, 0.21), skin)
    pen.pieslice(f.box(0.28, -0.01, 0.72, 0.2), 180, 360, hair)


def draw_dog(pen, f, rgb, rng, thing):
    """Dog: long body, four legs, low tail, head with a snout and a floppy dark ear."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    dark = paint.darker(rgb)
    width = max(1.0, 0.07 * abs(f.w))
    pen.line(f.pts((0.14, 0.40), (0.03, 0.18)), width, rgb)
    for u in (0.18, 0.30, 0.62, 0.74):
        pen.rect(f.box(u, 0.55, u + 0.08, 1.0), dark)
    pen.ellipse(f.box(0.10, 0.28, 0.84, 0.70), rgb, grain=0.08)
    pen.ellipse(f.box(0.66, 0.06, 0.96, 0.46), rgb, grain=0.06)
    pen.ellipse(f.box(0.86, 0.22, 1.02, 0.42), paint.lighter(rgb))
    pen.ellipse(f.box(0.96, 0.22, 1.02, 0.30), COLOURS["black"])
    pen.ellipse(f.box(0.67, 0.06, 0.77, 0.40), dark)
    pen.ellipse(f.box(0.82, 0.14, 0.86, 0.20), COLOURS["black"])


def draw_cat(pen, f, rgb, rng, thing):
    """Cat: compact body (tabby stripes sometimes), upright tail, pointed ears."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    dark = paint.darker(rgb, 0.55)
    tabby = paint.stripes(max(2.0, 0.12 * abs(f.w)), 0, dark, 0.3) if thing.variant % 4 < 2 \
        else None
    width = max(1.0, 0.06 * abs(f.w))
    pen.line(f.pts((0.12, 0.52), (0.03, 0.32), (0.07, 0.04)), width, rgb)
    for u in (0.18, 0.30, 0.54, 0.64):
        pen.rect(f.box(u, 0.62, u + 0.07, 1.0), rgb)
    pen.ellipse(f.box(0.08, 0.36, 0.76, 0.80), rgb, tabby, grain=0.05)
    pen.polygon(f.pts((0.60, 0.26), (0.64, -0.02), (0.75, 0.18)), rgb)
    pen.polygon(f.pts((0.82, 0.18), (0.92, -0.02), (0.95, 0.26)), rgb)
    pen.ellipse(f.box(0.58, 0.10, 0.96, 0.52), rgb, tabby)
    green_eye = (0.45, 0.75, 0.25)
    pen.ellipse(f.box(0.68, 0.24, 0.74, 0.32), green_eye)
    pen.ellipse(f.box(0.82, 0.24, 0.88, 0.32), green_eye)


def draw_horse(pen, f, rgb, rng, thing):
    """Horse: tall thin legs, long neck and head, dark mane and tail."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    dark = paint.darker(rgb, 0.45)
    width = max(1.0, 0.06 * abs(f.w))
    pen.line(f.pts((0.11, 0.36), (0.04, 0.72)), width * 1.4, dark)
    for u in (0.16, 0.28, 0.60, 0.71):
        pen.rect(f.box(u, 0.55, u + 0.07, 1.0), paint.darker(rgb, 0.85))
        pen.rect(f.box(u, 0.94, u + 0.07, 1.0), dark)
    pen.ellipse(f.box(0.08, 0.28, 0.80, 0.66), rgb, grain=0.05)
    pen.polygon(f.pts((0.62, 0.48), (0.72, 0.10), (0.86, 0.06), (0.82, 0.42)), rgb)
    pen.polygon(f.pts((0.74, 0.04), (0.88, 0.0), (1.0, 0.30), (0.93, 0.35)), rgb)
    pen.line(f.pts((0.73, 0.07), (0.66, 0.44)), width, dark)


def draw_cow(pen, f, rgb, rng, thing):
    """Cow: boxy white body with irregular spots in `rgb`, square head, pink muzzle."""
    f = f.mirrored(thing.variant % 2 == 1)
    body = paint.jitter(COLOURS["white"], rng, 0.03)
    spots = paint.blobs(max(1.5, 0.07 * abs(f.w)), rgb, 0.55, tuple(rng.uniform(0, 6, 4)))
    for u in (0.14, 0.27, 0.64, 0.76):
        pen.rect(f.box(u, 0.58, u + 0.09, 1.0), body)
    pen.polygon(f.pts((0.06, 0.22), (0.84, 0.20), (0.88, 0.66), (0.04, 0.66)), body, spots)
    pen.rect(f.box(0.80, 0.12, 1.0, 0.46), body, spots)
    pen.rect(f.box(0.82, 0.36, 0.99, 0.50), (0.92, 0.62, 0.62))
    pen.line(f.pts((0.82, 0.13), (0.79, 0.03)), max(1.0, 0.03 * abs(f.w)), (0.85, 0.82, 0.7))
    pen.line(f.pts((0.97, 0.13), (1.0, 0.03)), max(1.0, 0.03 * abs(f.w)), (0.85, 0.82, 0.7))


def draw_sheep(pen, f, rgb, rng, thing):
    """Sheep: a cluster of fluffy white circles, black head and thin black legs."""
    f = f.mirrored(thing.variant % 2 == 1)
    black = COLOURS["black"]
    width = max(1.0, 0.05 * abs(f.w))
    for u in (0.2, 0.32, 0.58, 0.68):
        pen.line(f.pts((u, 0.6), (u, 1.0)), width, black)
    for u, v, r in ((0.2, 0.45, 0.2), (0.38, 0.35, 0.22), (0.55, 0.37, 0.22), (0.68, 0.45, 0.18),
                    (0.32, 0.55, 0.2), (0.52, 0.56, 0.2)):
        ru = r * rng.uniform(0.9, 1.1)
        pen.ellipse(f.box(u - ru, v - ru * 1.1, u + ru, v + ru * 1.1), rgb, grain=0.09)
    pen.ellipse(f.box(0.76, 0.16, 0.98, 0.50), black)


def draw_bird(pen, f, rgb, rng, thing):
    """Bird: a chevron with wings up in the sky; a round body with a head on water."""
    del rng
    if thing.place == "sky":
        flap = 0.2 if thing.variant % 2 else 0.0
        pen.polygon(f.pts((0.0, 0.1 + flap), (0.5, 0.62), (1.0, 0.1 + flap), (0.5, 0.95)), rgb)
        return
    f = f.mirrored(thing.variant % 2 == 1)
    pen.ellipse(f.box(0.05, 0.35, 0.8, 1.0), rgb)
    pen.ellipse(f.box(0.62, 0.0, 0.92, 0.45), rgb)
    pen.polygon(f.pts((0.9, 0.18), (1.05, 0.26), (0.9, 0.32)), COLOURS["orange"])


def draw_fish(pen, f, rgb, rng, thing):
    """Fish seen through the water: oval body, triangular tail, eye; half transparent."""
    del rng
    f = f.mirrored(thing.variant % 2 == 1)
    stripes = paint.stripes(max(2.0, 0.15 * abs(f.w)), 0, paint.lighter(rgb, 0.6), 0.25) \
        if thing.variant % 3 == 0 else None
    pen.polygon(f.pts((0.0, 0.05), (0.32, 0.5), (0.0, 0.95)), rgb, alpha=0.85)
    pen.ellipse(f.box(0.2, 0.1, 1.0, 0.9), rgb, stripes, alpha=0.85)
    pen.ellipse(f.box(0.78, 0.3, 0.86, 0.45), COLOURS["black"])


DRAWERS = {
    "person": draw_person, "dog": draw_dog, "cat": draw_cat, "horse": draw_horse,
    "cow": draw_cow, "sheep": draw_sheep, "bird": draw_bird, "fish": draw_fish,
}
