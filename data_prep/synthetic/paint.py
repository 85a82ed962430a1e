"""A small raster painter: anti-aliased filled shapes with textures, and per-pixel ownership.

Each shape is drawn with PIL into a local, supersampled mask covering only its bounding
box, reduced to image resolution and alpha-blended into a float RGB canvas. The painter
also records which instance owns each pixel (the last opaque writer), so hidden objects
can be found after drawing. All coordinates are image pixels (floats, y down).
"""

import dataclasses
from typing import Callable

import numpy as np
from PIL import Image
from PIL import ImageDraw

RGB = tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class Texture:
    """A two-colour pattern: `pattern(yy, xx, rng)` gives weights in [0, 1] of `colour`.

    `yy`, `xx` are float32 `[h, w]` global pixel coordinates of the shape's bounding box,
    so patterns continue seamlessly across shapes.
    """

    pattern: Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
    colour: RGB


def stripes(period: float, angle_deg: float, colour: RGB, duty: float = 0.5,
            phase: float = 0.0) -> Texture:
    """Parallel stripes `period` px apart; angle 0 = vertical stripes."""
    cos, sin = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))

    def pattern(yy, xx, rng):
        del rng
        return (((xx * cos + yy * sin) / period + phase) % 1.0 < duty).astype(np.float32)

    return Texture(pattern, colour)


def waves(period: float, colour: RGB, wobble: float = 1.5, phase: float = 0.0) -> Texture:
    """Thin wavy horizontal lines (water)."""
    def pattern(yy, xx, rng):
        del rng
        wave = yy + wobble * np.sin(xx / (1.7 * period) + phase)
        return (wave / period % 1.0 < 0.22).astype(np.float32)

    return Texture(pattern, colour)


def blobs(scale: float, colour: RGB, threshold: float, phases: tuple) -> Texture:
    """Irregular spots (cow hide, leaves): thresholded sums of sinusoids."""
    p0, p1, p2, p3 = phases

    def pattern(yy, xx, rng):
        del rng
        field = (np.sin(xx / scale + p0) * np.sin(yy / scale + p1)
                 + 0.7 * np.sin((xx + 1.3 * yy) / (0.7 * scale) + p2)
                 + 0.5 * np.sin((xx - yy) / (1.3 * scale) + p3))
        return np.clip((field - threshold) * 3.0, 0.0, 1.0).astype(np.float32)

    return Texture(pattern, colour)


def speckle(density: float, colour: RGB) -> Texture:
    """Random isolated pixels (sand grains, snow sparkle, stars)."""
    def pattern(yy, xx, rng):
        del xx
        return (rng.random(yy.shape) < density).astype(np.float32)

    return Texture(pattern, colour)


def vertical_gradient(y_top: float, y_bottom: float, colour: RGB) -> Texture:
    """From the base colour at `y_top` to `colour` at `y_bottom` (sky, floors)."""
    def pattern(yy, xx, rng):
        del xx, rng
        return np.clip((yy - y_top) / max(1.0, y_bottom - y_top), 0.0, 1.0)

    return Texture(pattern, colour)


def grid(cell_w: float, cell_h: float, colour: RGB, fill: float = 0.55,
         origin: tuple[float, float] = (0.0, 0.0), lit: float = 1.0) -> Texture:
    """Rectangular cells (windows on a facade); `lit` = share of cells in `colour`."""
    ox, oy = origin

    def pattern(yy, xx, rng):
        u, v = (xx - ox) / cell_w, (yy - oy) / cell_h
        inside = ((u % 1.0) > (1 - fill) / 2) & ((u % 1.0) < (1 + fill) / 2)
        inside &= ((v % 1.0) > (1 - fill) / 2) & ((v % 1.0) < (1 + fill) / 2)
        if lit < 1.0:
            col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
            cells = rng.random((row.max() - row.min() + 1, col.max() - col.min() + 1)) < lit
            inside &= cells[row - row.min(), col - col.min()]
        return inside.astype(np.float32)

    return Texture(pattern, colour)


def blades(period: float, colour: RGB) -> Texture:
    """Short vertical streaks at random offsets per column (grass)."""
    def pattern(yy, xx, rng):
        offsets = rng.random(yy.shape[1]).astype(np.float32)[None, :]
        del xx
        return ((yy / period + offsets) % 1.0 < 0.4).astype(np.float32)

    return Texture(pattern, colour)


def jitter(rgb: RGB, rng: np.random.Generator, amount: float = 0.06) -> RGB:
    """The colour with independent per-channel noise, clipped to [0, 1]."""
    noise = rng.normal(0.0, amount, 3)
    return tuple(min(1.0, max(0.0, float(c) + float(n))) for c, n in zip(rgb, noise))


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend of two colours (t = 0 gives a)."""
    return tuple(float(x + (y - x) * t) for x, y in zip(a, b))


def darker(rgb: RGB, factor: float = 0.6) -> RGB:
    """The colour scaled towards black."""
    return tuple(c * factor for c in rgb)


def lighter(rgb: RGB, amount: float = 0.4) -> RGB:
    """The colour blended towards white."""
    return mix(rgb, (1.0, 1.0, 1.0), amount)


class Painter:
    """Draws into `canvas` float32 `[size, size, 3]` and tracks `owner` int32 `[size, size]`.

    Attributes:
      owner_id: written into `owner` for opaque pixels of every shape drawn while set;
        0 means "no labelled instance" (background, clutter).
      night: the scene is at night (drawers darken and light things accordingly).
      scene: the scene key, for drawers whose look depends on it (pines in the snow).
    """

    def __init__(self, size: int, rng: np.random.Generator, supersample: int = 2,
                 night: bool = False, scene: str = ""):
        self.size = size
        self.rng = rng
        self.night = night
        self.scene = scene
        self.canvas = np.zeros((size, size, 3), np.float32)
        self.owner = np.zeros((size, size), np.int32)
        self.owner_id = 0
        self._ss = supersample

    # -- shapes -----------------------------------------------------------------------
    def rect(self, box, colour, texture=None, grain=0.0, alpha=1.0):
        """Axis-aligned rectangle `box` = (x0, y0, x1, y1), with exact edge coverage."""
        x0, y0, x1, y1 = min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), \
            max(box[1], box[3])
        ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        ix1, iy1 = min(self.size, int(np.ceil(x1))), min(self.size, int(np.ceil(y1)))
        if ix1 <= ix0 or iy1 <= iy0:
            return
        cols = np.arange(ix0, ix1, dtype=np.float32)
        rows = np.arange(iy0, iy1, dtype=np.float32)
        cover_x = np.clip(np.minimum(cols + 1, x1) - np.maximum(cols, x0), 0.0, 1.0)
        cover_y = np.clip(np.minimum(rows + 1, y1) - np.maximum(rows, y0), 0.0, 1.0)
        self._blend(cover_y[:, None] * cover_x[None, :] * np.float32(alpha), ix0, iy0,
                    colour, texture, grain, own=True)

    def polygon(self, points, colour, texture=None, grain=0.0, alpha=1.0):
        """Filled polygon through `points` [(x, y), ...]."""
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        self._paint((min(xs), min(ys), max(xs), max(ys)),
                    lambda draw, tx: draw.polygon(tx(points), fill=255),
                    colour, texture, grain, alpha)

    def ellipse(self, box, colour, texture=None, grain=0.0, alpha=1.0, own=True):
        """Filled ellipse inscribed in `box`."""
        self._paint(box, lambda draw, tx: draw.ellipse(_flat(tx(_corners(box))), fill=255),
                    colour, texture, grain, alpha, own)

    def ring(self, box, width, colour, alpha=1.0):
        """Ellipse outline `width` px wide, inscribed in `box`."""
        self._paint(box, lambda draw, tx: draw.ellipse(
            _flat(tx(_corners(box))), outline=255, width=max(1, round(width * self._ss))),
            colour, None, 0.0, alpha)

    def pieslice(self, box, start, end, colour, texture=None, grain=0.0):
        """Sector of the ellipse in `box`, `start` to `end` degrees clockwise from 3 o'clock."""
        self._paint(box, lambda draw, tx: draw.pieslice(_flat(tx(_corners(box))), start, end,
                                                         fill=255),
                    colour, texture, grain, 1.0)

    def arc(self, box, start, end, width, colour, alpha=1.0):
        """Arc of the ellipse in `box`, `width` px wide."""
        self._paint(box, lambda draw, tx: draw.arc(_flat(tx(_corners(box))), start, end,
                                                    fill=255,
                                                    width=max(1, round(width * self._ss))),
                    colour, None, 0.0, alpha)

    def line(self, points, width, colour, alpha=1.0, own=True):
        """Polyline `width` px wide."""
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        pad = width / 2 + 1
        self._paint((min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad),
                    lambda draw, tx: draw.line(tx(points), fill=255,
                                               width=max(1, round(width * self._ss)),
                                               joint="curve"),
                    colour, None, 0.0, alpha, own)

    # -- compositing ------------------------------------------------------------------
    def _paint(self, box, draw_fn, colour, texture, grain, alpha, own=True):
        x0, y0, x1, y1 = box
        ix0, iy0 = max(0, int(np.floor(x0)) - 1), max(0, int(np.floor(y0)) - 1)
        ix1, iy1 = min(self.size, int(np.ceil(x1)) + 1), min(self.size, int(np.ceil(y1)) + 1)
        if ix1 <= ix0 or iy1 <= iy0:
            return
        ss, width, height = self._ss, ix1 - ix0, iy1 - iy0
        mask_image = Image.new("L", (width * ss, height * ss), 0)

        def to_local(points):
            return [((x - ix0) * ss, (y - iy0) * ss) for x, y in points]

        draw_fn(ImageDraw.Draw(mask_image), to_local)
        if ss > 1:
            mask_image = mask_image.reduce(ss)
        mask = np.asarray(mask_image, np.float32) * np.float32(alpha / 255.0)
        self._blend(mask, ix0, iy0, colour, texture, grain, own)

    def _blend(self, mask, ix0, iy0, colour, texture, grain, own):
        """Blends the shape's fill into the canvas where `mask` `[h, w]` (coverage) > 0."""
        if not mask.any():
            return
        height, width = mask.shape
        fill = self._fill(colour, texture, grain, ix0, iy0, width, height)
        region = self.canvas[iy0:iy0 + height, ix0:ix0 + width]
        region += (fill - region) * mask[..., None]
        if own:
            self.owner[iy0:iy0 + height, ix0:ix0 + width][mask > 0.45] = self.owner_id

    def _fill(self, colour, texture, grain, ix0, iy0, width, height):
        """The shape's colour: `[3]` when flat, else `[height, width, 3]`."""
        base = np.asarray(colour, np.float32)
        if texture is None and not grain:
            return base
        fill = np.broadcast_to(base, (height, width, 3))
        if texture is not None:
            yy, xx = np.mgrid[iy0:iy0 + height, ix0:ix0 + width].astype(np.float32)
            weight = texture.pattern(yy, xx, self.rng)[..., None]
            fill = fill + (np.asarray(texture.colour, np.float32) - fill) * weight
        if grain:
            fill = fill * (1.0 + grain * self.rng.standard_normal((height, width, 1),
                                                                  dtype=np.float32))
        return fill

    # -- finishing --------------------------------------------------------------------
    def finish(self, rng: np.random.Generator) -> np.ndarray:
        """Applies per-image lighting, colour cast and sensor noise; returns uint8 `[H, W, 3]`."""
        size = self.size
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * np.arange(size)[None, :] + np.sin(angle) * np.arange(size)[:, None])
        ramp = (ramp - ramp.mean()) / size
        light = 1.0 + rng.uniform(0.1, 0.35) * ramp
        brightness = rng.uniform(0.55, 0.75) if self.night else rng.uniform(0.8, 1.15)
        cast = rng.uniform(0.9, 1.1, size=3) * brightness
        if self.night:
            cast *= np.array([0.85, 0.9, 1.1])
        image = self.canvas * (light[..., None] * cast).astype(np.float32)
        image += np.float32(rng.uniform(0.01, 0.04)) * rng.standard_normal(image.shape,
                                                                          dtype=np.float32)
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _corners(box):
    return [(box[0], box[1]), (box[2], box[3])]


def _flat(points):
    (x0, y0), (x1, y1) = points
    return [x0, y0, max(x0, x1), max(y0, y1)]


class Frame:
    """Maps unit coordinates (u right, v down) inside an object's pixel box to pixels."""

    def __init__(self, box):
        self.x0, self.y0, self.x1, self.y1 = box
        self.w, self.h = self.x1 - self.x0, self.y1 - self.y0

    def p(self, u, v):
        """The pixel point at (u, v)."""
        return (self.x0 + u * self.w, self.y0 + v * self.h)

    def pts(self, *uvs):
        """Pixel points for several (u, v) pairs."""
        return [self.p(u, v) for u, v in uvs]

    def box(self, u0, v0, u1, v1):
        """The pixel box spanning (u0, v0)-(u1, v1), ordered even in a mirrored frame."""
        xa, xb = self.x0 + u0 * self.w, self.x0 + u1 * self.w
        return (min(xa, xb), self.y0 + v0 * self.h, max(xa, xb), self.y0 + v1 * self.h)

    def mirrored(self, flip: bool) -> "Frame":
        """This frame flipped left-right when `flip` (objects facing left)."""
        return Frame((self.x1, self.y0, self.x0, self.y1)) if flip else self
