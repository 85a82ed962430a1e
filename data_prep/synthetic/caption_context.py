"""What a caption can say about one image: salient groups, noun phrases, locations, relations.

`CaptionContext` digests an image's layout and visible instances once; the templates in
`caption_templates.py` assemble its phrases into sentences.
"""

import dataclasses

import numpy as np

from data_prep.synthetic import catalogue
from data_prep.synthetic import scene_types
from data_prep.synthetic.world import Layout

MIN_WORDS, MAX_WORDS = 6, 16
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}
_MANY = ("several", "many", "some", "a group of")
_SCENE_ADJECTIVES = {
    "street": ("busy", "quiet", "sunny"), "park": ("green", "sunny", "quiet"),
    "room": ("cozy", "bright", "small"), "beach": ("sunny", "sandy", "quiet"),
    "farm": ("green", "rural", "quiet"), "harbour": ("calm", "quiet", "busy"),
    "winter": ("snowy", "cold", "white"),
}
_REGION_PHRASES = {
    "road": ("on the road", "on the street", "along the road"),
    "grass": ("on the grass", "in the grass", "on the green grass"),
    "sand": ("on the sand", "on the beach", "on the sandy beach"),
    "snow": ("in the snow", "on the snow"),
    "water": ("on the water", "in the water"),
}
_PLACE_PHRASES = {
    "sky": ("in the sky", "in the blue sky", "up in the sky"),
    "horizon": ("in the background", "in the distance", "on the horizon"),
    "wall": ("on the wall",),
    "floor": ("on the floor", "in the room"),
    "table": ("on the table", "on top of a table"),
    "underwater": ("in the water", "under the water"),
    "sidewalk": ("on the sidewalk", "on the street"),
}
# Scenery is big but rarely the subject; the sun and moon are in between.
_SALIENCE_WEIGHTS = {**{label: 0.25 for label in catalogue.SCENERY_LABELS},
                     "sun": 0.6, "moon": 0.6}
_REGION_NOUNS = {
    "sky": ("the sky", "a blue sky", "a clear sky"), "road": ("the road", "an empty road"),
    "grass": ("green grass", "the grass", "a lawn"), "water": ("the water", "blue water"),
    "sand": ("the sand", "white sand"), "snow": ("fresh snow", "the snow", "white snow"),
}
_NEAR = ("next to", "near", "beside", "by")
# Things another object can stand "in front of".
_BACKDROP_LABELS = ("building", "house", "fence", "tree", "mountain", "bench", "sign")


@dataclasses.dataclass
class Group:
    """All visible instances of one label.

    Attributes:
      label: the label.
      members: indices into `Layout.things`, in index order.
      area: visible pixels, weighted by how likely the label is a caption's subject.
      colours: colour names of the members (None for labels without one).
    """

    label: str
    members: list
    area: float
    colours: set


class CaptionContext:
    """The image content, pre-digested for the templates."""

    def __init__(self, layout: Layout, areas: dict, rng: np.random.Generator):
        """See grammar.make_captions for the arguments."""
        self.layout, self.rng = layout, rng
        self.spec = scene_types.SCENE_BY_NAME[layout.scene]
        self.things = layout.things
        self.visible_regions = {layout.things[i].label for i in areas
                                if layout.things[i].place == "region"}
        groups = {}
        for index in sorted(areas):
            thing = layout.things[index]
            if thing.place == "region":
                continue
            group = groups.setdefault(thing.label, Group(thing.label, [], 0.0, set()))
            group.members.append(index)
            weight = _SALIENCE_WEIGHTS.get(thing.label, 1.0)
            group.area += weight * areas[index]
            group.colours.add(thing.colour)
        self.groups = sorted(groups.values(), key=lambda g: (-g.area, g.label))
        if len(self.groups) < 2:  # near-empty scenes: talk about the regions too
            self.groups += [Group(label, [index], 0.0, set()) for index, label in sorted(
                (i, layout.things[i].label) for i in areas if layout.things[i].place == "region")]
        self.visible = set(areas)

    # -- choices --------------------------------------------------------------------------
    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def main_groups(self, n: int) -> list[Group]:
        """Up to n groups, favouring the most salient, in a slightly random order."""
        pool = self.groups[:4]
        if not pool:
            return []
        keys = [i + self.rng.random() * 1.5 for i in range(len(pool))]
        order = [g for _, g in sorted(zip(keys, pool), key=lambda kg: kg[0])]
        return order[:n]

    # -- phrases ----------------------------------------------------------------------------
    def noun_phrase(self, group: Group, colour_ok: bool = True, article: bool = True) -> list:
        spec = catalogue.LABELS[group.label]
        if group.label in _REGION_NOUNS:
            night = self.layout.night and group.label == "sky"
            return ("a dark sky" if night else self.pick(_REGION_NOUNS[group.label])).split()
        n = len(group.members)
        colour = next(iter(group.colours)) if len(group.colours) == 1 else None
        use_colour = colour and colour_ok and self.rng.random() < 0.45
        # People are coloured by their clothes, after the noun.
        before = [colour] if use_colour and group.label != "person" else []
        after = self.pick((["in", colour], ["in", "a", colour, "shirt"])) \
            if use_colour and group.label == "person" else []
        if n == 1:
            noun = spec.name if self.rng.random() < 0.55 else self.pick(spec.singular)
            words = before + noun.split()
            if not article:
                return words + after
            if group.label in ("sun", "moon") or self.rng.random() < 0.1:
                first = "the"
            else:
                first = "an" if words[0][0] in "aeiou" else "a"
            return [first] + words + after
        noun = spec.plural[0] if self.rng.random() < 0.7 else self.pick(spec.plural)
        amount = _NUMBERS.get(n) if n <= 4 and self.rng.random() < 0.85 else self.pick(_MANY)
        return amount.split() + before + [noun] + after

    def verb(self, group: Group):
        thing = self.things[group.members[0]]
        spec = catalogue.LABELS[group.label]
        if thing.relation in ("riding", "flying", "playing with") and thing.partner in self.visible:
            return None
        if group.label == "bird" and thing.place != "sky":
            return "floating"
        return self.pick(spec.verbs) if spec.verbs and self.rng.random() < 0.6 else None

    def location(self, group: Group):
        """Where the group is, naming the region label under it when it is visible."""
        thing = self.things[group.members[0]]
        place = thing.place
        if place in ("ground", "far"):
            place = {"beach": "sand", "park": "grass", "farm": "grass",
                     "winter": "snow"}.get(self.layout.scene, "sidewalk")
        if place == "road" or (place == "sidewalk" and self._on_road(thing)):
            place = "road"
        if place in _REGION_PHRASES and place in self.visible_regions:
            return self.pick(_REGION_PHRASES[place]).split()
        if place == "sky" and self.layout.night:
            return ["in", "the", "night", "sky"]
        if place in _PLACE_PHRASES:
            return self.pick(_PLACE_PHRASES[place]).split()
        return None

    def _on_road(self, thing) -> bool:
        y0, y1 = self.layout.bands.get("road", (2.0, 2.0))
        return y0 <= thing.box[3] <= y1

    def relation(self, group: Group):
        """(relation words, other group) from a partner or from the nearest other object."""
        thing = self.things[group.members[0]]
        if thing.partner in self.visible and thing.relation:
            other = self._group_of(thing.partner)
            if other is not None:
                return thing.relation.split(), other
        best, best_distance = None, 0.35
        cx, cy = (thing.box[0] + thing.box[2]) / 2, (thing.box[1] + thing.box[3]) / 2
        for other in self.groups:
            if other.label == group.label or other.label in _REGION_NOUNS:
                continue
            o = self.things[other.members[0]]
            if (o.place == "sky") != (thing.place == "sky"):
                continue  # "a dog next to a cloud" is not a relation
            distance = abs((o.box[0] + o.box[2]) / 2 - cx) + 0.5 * abs((o.box[1] + o.box[3]) / 2
                                                                       - cy)
            if distance < best_distance:
                best, best_distance = other, distance
        if best is None:
            return None
        behind = self.things[best.members[0]]
        in_front = best.label in _BACKDROP_LABELS and behind.depth < thing.depth
        if in_front and self.rng.random() < 0.5:
            return ["in", "front", "of"], best
        return self.pick(_NEAR).split(), best

    def _group_of(self, index: int):
        return next((g for g in self.groups if index in g.members), None)

    def scene_pp(self, avoid: list = ()) -> str:
        """A phrase naming the scene ("in a park"), not one already in `avoid` words."""
        said = {w.strip(",") for w in avoid if w}
        options = [p for p in self.spec.phrases if p.split()[-1] not in said] or ["here"]
        phrase = self.pick(options)
        return phrase + (" at night" if self.layout.night and self.rng.random() < 0.7 else "")

    def scene_noun(self) -> list:
        adjective = self.pick(_SCENE_ADJECTIVES[self.layout.scene]) if self.rng.random() < 0.5 \
            else None
        if self.layout.night:
            adjective = "dark" if self.rng.random() < 0.5 else adjective
        return ([adjective] if adjective else []) + self.pick(self.spec.nouns).split()

    def be(self, group: Group) -> str:
        return "is" if len(group.members) == 1 else "are"

    # -- output -----------------------------------------------------------------------------
    def fit_length(self, words: list) -> list:
        """Pads short captions with the scene or time of day; returns [] if too long."""
        words = [w for w in words if w]
        extras = [self.scene_pp(words).split(), ["on", "a", "sunny", "day"]
                  if not self.layout.night else ["at", "night"], ["in", "this", "picture"]]
        for extra in extras:
            if len(words) >= MIN_WORDS:
                break
            if " ".join(extra) not in " ".join(words):
                words = words + extra
        if not MIN_WORDS <= len(words) <= MAX_WORDS:
            return []
        return words

    def style(self, text: str) -> str:
        if self.rng.random() < 0.5:
            text = text[0].upper() + text[1:]
        return text + ("." if self.rng.random() < 0.4 else "")
