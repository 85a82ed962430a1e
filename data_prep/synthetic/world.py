"""Sampling an image's layout: scene, background bands and placed objects (no pixels yet).

Everything here works in unit coordinates (x right, y down, the image is [0, 1]^2) so that
the same layout can be drawn at any image size. Sampling is cheap (~0.1 ms), so label
statistics can be studied without drawing (`sample_labels`).
"""

import dataclasses

import numpy as np

from data_prep.synthetic import catalogue
from data_prep.synthetic import scene_types


@dataclasses.dataclass
class Thing:
    """One drawn object or background region.

    Attributes:
      label: its label name.
      box: (x0, y0, x1, y1) in unit coordinates; may reach outside the image.
      place: what it stands on: "region" for a background band, else "ground", "road",
        "water", "underwater", "sky", "horizon", "wall", "floor", "table".
      depth: drawing order key (larger = nearer, drawn later).
      colour: colour name of its body, or None when the colour is not named.
      partner: index (in `Layout.things`) of a related object, or -1.
      relation: how it relates to the partner: "riding", "flying", "playing with", "on".
      variant: a random integer drawers use to pick among looks.
    """

    label: str
    box: tuple[float, float, float, float]
    place: str
    depth: float
    colour: str | None = None
    partner: int = -1
    relation: str = ""
    variant: int = 0


@dataclasses.dataclass
class Layout:
    """The sampled content of one image.

    Attributes:
      scene: the scene key (scene_types.SCENES).
      night: drawn at night.
      horizon: y of the horizon (outdoors) or of the wall/floor line (rooms).
      bands: band name -> (y0, y1), including unlabelled ones ("sidewalk", "wall", "floor").
      things: regions first, then objects, in no particular order (see `depth`).
    """

    scene: str
    night: bool
    horizon: float
    bands: dict
    things: list


def image_rngs(seed: int, image_id: int) -> dict:
    """Independent generators for one image, fixed by (seed, image_id) alone.

    Separate streams keep the layout identical whether or not the image is drawn.
    """
    streams = np.random.SeedSequence([int(seed), int(image_id)]).spawn(4)
    return {name: np.random.default_rng(stream)
            for name, stream in zip(("layout", "paint", "text", "tags"), streams)}


def sample_labels(seed: int, image_id: int) -> set[str]:
    """The labels of an image's sampled layout, without drawing it.

    The drawn image may lose a label whose every instance ends up hidden.
    """
    layout = sample_layout(image_rngs(seed, image_id)["layout"])
    return {thing.label for thing in layout.things}


def sample_layout(rng: np.random.Generator) -> Layout:
    """Samples scene, bands and objects, then adds the objects' dependencies."""
    probs = np.array([scene.prob for scene in scene_types.SCENES])
    scene = scene_types.SCENES[rng.choice(len(probs), p=probs / probs.sum())]
    night = bool(rng.random() < scene.night_prob)
    layout = Layout(scene.name, night, 0.0, {}, [])
    present = {rule.label for rule in scene.rules
               if rule.place == "region" and rng.random() < rule.prob}
    _sample_bands(layout, present, rng)
    for rule in scene.rules:
        if rule.place == "region" or not _rule_applies(rule, layout):
            continue
        if rng.random() >= rule.prob:
            continue
        low, high = rule.count
        count = low + int((high - low + 1) * rng.random() ** 1.8)
        for _ in range(count):
            if rule.place == "table":  # boxed on a table top by _add_dependencies
                layout.things[_place(layout, rule.label, "ground", rng)].place = "table"
            else:
                _place(layout, rule.label, rule.place, rng)
    _add_dependencies(layout, rng)
    if not layout.things:
        _place(layout, "chair", "ground", rng)  # a room needs at least one labelled object
    return layout


def _rule_applies(rule: scene_types.Rule, layout: Layout) -> bool:
    if rule.when == "day":
        return not layout.night
    if rule.when == "night":
        return layout.night
    if rule.when == "road":
        return "road" in layout.bands
    return True


def _sample_bands(layout: Layout, regions: set[str], rng: np.random.Generator) -> None:
    """Sets the horizon and the bands; adds a region Thing for each labelled band."""
    bands = layout.bands
    if layout.scene == "room":
        floor = rng.uniform(0.55, 0.72)
        layout.horizon = floor
        bands["wall"], bands["floor"] = (0.0, floor), (floor, 1.0)
        return
    horizon = rng.uniform(0.30, 0.52)
    layout.horizon = horizon
    bands["sky"] = (0.0, horizon)
    depth = 1.0 - horizon
    if layout.scene == "street":
        road_top = horizon + depth * rng.uniform(0.22, 0.38)
        road_bottom = min(1.0, road_top + depth * rng.uniform(0.35, 0.50))
        bands["sidewalk"] = (horizon, road_top)
        bands["road"] = (road_top, road_bottom)
        bands["kerb"] = (road_bottom, 1.0)
    elif layout.scene in ("park", "farm"):
        top = horizon
        if "water" in regions:
            top = horizon + depth * rng.uniform(0.08, 0.18)
            bands["water"] = (horizon, top)
        bands["grass"] = (top, 1.0)
        if "road" in regions:
            road_top = top + (1.0 - top) * rng.uniform(0.45, 0.65)
            bands["road"] = (road_top, min(1.0, road_top + (1.0 - top) * rng.uniform(0.18, 0.3)))
    elif layout.scene == "beach":
        shore = horizon + depth * rng.uniform(0.25, 0.50)
        bands["water"], bands["sand"] = (horizon, shore), (shore, 1.0)
    elif layout.scene == "harbour":
        bands["water"] = (horizon, 1.0)
    elif layout.scene == "winter":
        bands["snow"] = (horizon, 1.0)
    for name, (y0, y1) in list(bands.items()):
        if name in catalogue.REGION_LABELS:
            layout.things.append(Thing(name, (0.0, y0, 1.0, y1), "region", -10.0 + y0))


def _ground_band(layout: Layout) -> tuple[float, float]:
    """The band where people and animals stand in this scene."""
    for name in ("floor", "sand", "snow", "grass"):
        if name in layout.bands:
            return layout.bands[name]
    return layout.horizon, 1.0  # street: sidewalk, road and kerb alike


def _scale_at(layout: Layout, y_base: float) -> float:
    """Perspective: objects at the horizon are ~0.3x their size at the image bottom."""
    return 0.3 + 0.9 * max(0.0, y_base - layout.horizon) / max(1e-3, 1.0 - layout.horizon)


def _base_in(band: tuple[float, float], rng, far: bool = False) -> float:
    y0, y1 = band
    if far:
        y1 = y0 + 0.4 * (y1 - y0)
    return rng.uniform(y0 + 0.1 * (y1 - y0), y1)


def _place(layout: Layout, label: str, place: str, rng: np.random.Generator) -> int:
    """Samples a box for one instance of `label` and appends it; returns its index."""
    height, aspect = scene_types.SIZES[label]
    jitter = rng.uniform(0.8, 1.2)
    horizon = layout.horizon
    if place in ("ground", "far", "road"):
        if place == "road" and "road" in layout.bands:
            y_base = _base_in(layout.bands["road"], rng)
        elif label == "person" and layout.scene == "street" and rng.random() < 0.8:
            y_base = _base_in(layout.bands[rng.choice(["sidewalk", "kerb"])], rng)
        else:
            y_base = _base_in(_ground_band(layout), rng, far=place == "far")
        scale = _scale_at(layout, y_base) * jitter
    elif place == "water":
        y0, y1 = layout.bands["water"]
        y_base = rng.uniform(y0 + 0.05 * (y1 - y0), y1)
        scale = _scale_at(layout, y_base) * jitter
    elif place == "underwater":
        y0, y1 = layout.bands["water"]
        y_base = rng.uniform(y0 + 0.4 * (y1 - y0), y1)
        scale = _scale_at(layout, y_base) * jitter * 0.8
    elif place == "horizon":
        y_base = horizon + 0.01
        scale = jitter * (0.5 if layout.scene == "harbour" else 1.0)
        if label == "building":
            scale *= rng.uniform(0.5, 1.1)
    elif place == "sky":
        scale = jitter * rng.uniform(0.7, 1.3)
        y_base = rng.uniform(0.03 + height * scale, max(0.04 + height * scale, horizon - 0.04))
        if label == "rainbow":
            y_base, scale = horizon, rng.uniform(0.8, 1.4)
    elif place == "wall":
        scale = jitter
        y_base = rng.uniform(0.12 + height, max(0.13 + height, horizon - 0.12))
    else:
        raise ValueError(f"unknown place {place!r} for {label!r}")
    box_h = height * scale
    box_w = box_h * aspect * rng.uniform(0.9, 1.1)
    x_centre = rng.uniform(-0.05, 1.05)
    if label == "rainbow":
        box_h = box_w / 2
    box = (x_centre - box_w / 2, y_base - box_h, x_centre + box_w / 2, y_base)
    spec = catalogue.LABELS[label]
    colour = spec.colours[_skewed_index(len(spec.colours), rng)] if spec.colours else None
    if label == "tree" and layout.scene == "winter":
        colour = "green"
    if place in ("ground", "far", "road", "water", "underwater"):
        depth = y_base
    else:
        depth = -5.0 + (y_base if place == "horizon" else box_h)  # bigger sky things first
    thing = Thing(label, box, "floor" if layout.scene == "room" and place in ("ground", "far")
                  else place, depth, colour, variant=int(rng.integers(1 << 30)))
    layout.things.append(thing)
    return len(layout.things) - 1


def _skewed_index(n: int, rng: np.random.Generator) -> int:
    """An index in [0, n) where earlier entries are likelier (first ~ 2x the last)."""
    weights = 1.0 / (1.0 + np.arange(n) * 0.35)
    return int(rng.choice(n, p=weights / weights.sum()))


def _first(layout: Layout, label: str) -> int:
    return next((i for i, t in enumerate(layout.things) if t.label == label), -1)


def _add_dependencies(layout: Layout, rng: np.random.Generator) -> None:
    """Objects that bring others: riders, kite flyers, dogs with balls, things on tables."""
    things = layout.things
    for index in [i for i, t in enumerate(things) if t.label == "bicycle"]:
        if rng.random() < 0.5:
            bike = things[index]
            x0, y0, x1, y1 = bike.box
            height = (y1 - y0) * 1.8
            centre = (x0 + x1) / 2
            rider = Thing("person", (centre - 0.2 * height, y1 - 0.45 * (y1 - y0) - height,
                                     centre + 0.2 * height, y1 - 0.45 * (y1 - y0)),
                          bike.place, bike.depth + 1e-4,
                          catalogue.LABELS["person"].colours[int(rng.integers(6))],
                          partner=index, relation="riding", variant=int(rng.integers(1 << 30)))
            things.append(rider)
    kite = _first(layout, "kite")
    if kite >= 0:
        flyer = next((i for i, t in enumerate(things) if t.label == "person" and not t.relation),
                     -1)
        if flyer < 0:
            flyer = _place(layout, "person", "ground", rng)
        things[flyer].partner, things[flyer].relation = kite, "flying"
        things[kite].partner = flyer
    ball = _first(layout, "ball")
    if ball >= 0:
        player = next((i for i, t in enumerate(things) if t.label == "dog"), -1)
        if player < 0:
            player = next((i for i, t in enumerate(things)
                           if t.label == "person" and not t.relation), -1)
        if player < 0:
            player = _place(layout, "dog" if rng.random() < 0.6 else "person", "ground", rng)
        things[player].partner, things[player].relation = ball, "playing with"
        _move_beside(things[ball], things[player], rng)
    table = _first(layout, "table")
    for index, thing in enumerate(list(things)):
        if thing.place == "table":
            if table < 0 and rng.random() < 0.7:
                table = _place(layout, "table", "ground", rng)
            if table < 0:
                thing.place = "floor" if thing.label == "book" else "drop"
                thing.depth = thing.box[3]
                continue
            things[index] = _put_on(thing, things[table], table, rng)
    _drop_marked(layout)


def _drop_marked(layout: Layout) -> None:
    """Removes things marked "drop", keeping partner indices pointing at the same things."""
    kept = [i for i, t in enumerate(layout.things) if t.place != "drop"]
    new_index = {old: new for new, old in enumerate(kept)}
    layout.things = [layout.things[i] for i in kept]
    for thing in layout.things:
        thing.partner = new_index.get(thing.partner, -1)


def _move_beside(small: Thing, big: Thing, rng: np.random.Generator) -> None:
    """Moves `small` to stand on the ground beside `big`, at its depth and scale."""
    bx0, by0, bx1, by1 = big.box
    width, height = small.box[2] - small.box[0], small.box[3] - small.box[1]
    scale = (by1 - by0) / scene_types.SIZES[big.label][0] * scene_types.SIZES[small.label][0] / height
    width, height = width * scale, height * scale
    x = bx1 + 0.2 * width if rng.random() < 0.5 else bx0 - 1.2 * width
    y1 = by1 + rng.uniform(-0.02, 0.02)
    small.box = (x, y1 - height, x + width, y1)
    small.depth = y1 + 1e-4


def _put_on(thing: Thing, table: Thing, table_index: int, rng: np.random.Generator) -> Thing:
    """Returns `thing` re-boxed on the table top, drawn just after the table."""
    tx0, ty0, tx1, ty1 = table.box
    height, aspect = scene_types.SIZES[thing.label]
    box_h = height * (ty1 - ty0) / scene_types.SIZES["table"][0] * rng.uniform(0.85, 1.15)
    box_w = box_h * aspect
    x = rng.uniform(tx0 + 0.05 * (tx1 - tx0), max(tx0 + 0.06 * (tx1 - tx0), tx1 - box_w))
    y1 = ty0 + 0.16 * (ty1 - ty0)
    return dataclasses.replace(thing, box=(x, y1 - box_h, x + box_w, y1), place="table",
                               depth=table.depth + 1e-4 + 1e-6 * x, partner=table_index,
                               relation="on")
