"""The label catalogue: names, colours and the words captions and tags use for each label.

Labels are single lower-case words so that a label name is also a caption word and a
valid NUS-WIDE ground-truth file name (`Labels_{name}_Train.txt`). `LABEL_NAMES` is the
dataset's own label order (alphabetical, like Concepts81.txt); COCO category ids are the
1-based positions in it.
"""

import dataclasses

GENERATOR_VERSION = "1.0"

# Colour names -> RGB in [0, 1]. The names are the adjectives captions and tags use.
COLOURS = {
    "red": (0.80, 0.12, 0.10),
    "blue": (0.16, 0.30, 0.80),
    "white": (0.93, 0.93, 0.91),
    "black": (0.11, 0.11, 0.12),
    "silver": (0.68, 0.70, 0.74),
    "grey": (0.48, 0.48, 0.50),
    "yellow": (0.96, 0.82, 0.12),
    "green": (0.20, 0.58, 0.20),
    "orange": (0.95, 0.50, 0.10),
    "brown": (0.50, 0.30, 0.14),
    "tan": (0.80, 0.64, 0.42),
    "pink": (0.95, 0.56, 0.70),
    "purple": (0.52, 0.26, 0.66),
}


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """One label: how it is named in captions and tags, and which colours it is drawn in.

    Attributes:
      name: the label (a single lower-case word).
      supercategory: COCO-style supercategory.
      colours: colour names the instance body is drawn in (first = most common); empty
        for labels whose colour is fixed and never named in captions.
      singular: caption nouns for one instance; the label itself first.
      plural: caption nouns for several instances.
      verbs: present participles that fit the label ("parked", "running").
    """

    name: str
    supercategory: str
    colours: tuple[str, ...]
    singular: tuple[str, ...]
    plural: tuple[str, ...]
    verbs: tuple[str, ...] = ()


def _spec(name, supercategory, colours, singular, plural, verbs=()):
    return LabelSpec(name, supercategory, tuple(colours), (name,) + tuple(singular),
                     tuple(plural), tuple(verbs))


_SPECS = (
    # Regions ("stuff"): drawn as bands of the background.
    _spec("sky", "outdoor", (), (), ("skies",)),
    _spec("road", "outdoor", (), ("street",), ("roads",)),
    _spec("grass", "outdoor", (), ("lawn",), ("grasses",)),
    _spec("water", "outdoor", (), (), ("waters",)),
    _spec("sand", "outdoor", (), (), ("sands",)),
    _spec("snow", "outdoor", (), (), ("snow",)),
    # Sky things.
    _spec("cloud", "sky", ("white", "grey"), (), ("clouds",), ("floating",)),
    _spec("sun", "sky", (), (), ("suns",), ("shining",)),
    _spec("moon", "sky", (), (), ("moons",), ("shining",)),
    _spec("rainbow", "sky", (), (), ("rainbows",)),
    _spec("plane", "vehicle", ("white", "silver"), ("airplane", "jet"), ("planes", "airplanes"),
          ("flying",)),
    _spec("bird", "animal", ("black", "white", "brown"), (), ("birds",), ("flying",)),
    _spec("kite", "sports", ("red", "yellow", "blue", "green", "purple"), (), ("kites",),
          ("flying",)),
    # Landscape and buildings.
    _spec("mountain", "outdoor", (), ("hill",), ("mountains", "hills")),
    _spec("building", "outdoor", ("grey", "brown", "tan"), ("tower",), ("buildings",)),
    _spec("house", "outdoor", ("white", "tan", "red"), ("cottage",), ("houses",)),
    _spec("tree", "plant", ("green", "orange"), (), ("trees",)),
    _spec("flower", "plant", ("red", "yellow", "pink", "purple", "white"), ("blossom",),
          ("flowers",), ("blooming",)),
    _spec("fence", "outdoor", ("brown", "white"), (), ("fences",)),
    _spec("bench", "furniture", ("brown", "green"), (), ("benches",)),
    _spec("sign", "outdoor", (), (), ("signs",)),
    # Vehicles.
    _spec("car", "vehicle", ("red", "blue", "white", "black", "silver", "yellow"), ("vehicle",),
          ("cars", "vehicles"), ("parked", "driving")),
    _spec("bus", "vehicle", ("yellow", "red", "green", "blue"), (), ("buses",),
          ("driving", "parked")),
    _spec("bicycle", "vehicle", ("red", "blue", "black", "green"), ("bike",),
          ("bicycles", "bikes"), ("parked", "leaning")),
    _spec("boat", "vehicle", ("white", "red", "blue", "brown"), ("ship",), ("boats", "ships"),
          ("floating", "sailing")),
    # People and animals.
    _spec("person", "person", ("red", "blue", "green", "yellow", "white", "black"),
          ("man", "woman", "boy", "girl"), ("people", "persons"), ("standing", "walking")),
    _spec("dog", "animal", ("brown", "tan", "black", "white"), ("puppy",), ("dogs", "puppies"),
          ("running", "playing", "sitting")),
    _spec("cat", "animal", ("grey", "orange", "black", "white"), ("kitten",), ("cats", "kittens"),
          ("sitting", "sleeping", "lying")),
    _spec("horse", "animal", ("brown", "black", "white"), ("pony",), ("horses", "ponies"),
          ("standing", "grazing")),
    _spec("cow", "animal", ("black", "brown"), (), ("cows", "cattle"), ("grazing", "standing")),
    _spec("sheep", "animal", ("white",), ("lamb",), ("sheep", "lambs"), ("grazing", "standing")),
    _spec("fish", "animal", ("orange", "silver", "yellow"), (), ("fish",), ("swimming",)),
    # Small things.
    _spec("ball", "sports", ("red", "blue", "yellow", "white"), (), ("balls",)),
    _spec("umbrella", "accessory", ("red", "blue", "yellow", "green", "orange"), ("parasol",),
          ("umbrellas", "parasols"), ("standing",)),
    # Indoor things.
    _spec("table", "furniture", ("brown", "white"), ("desk",), ("tables",)),
    _spec("chair", "furniture", ("brown", "red", "blue", "black"), ("seat",), ("chairs",)),
    _spec("lamp", "furniture", ("white", "yellow"), (), ("lamps",), ("glowing",)),
    _spec("book", "indoor", ("red", "blue", "green", "yellow"), (), ("books",), ("lying",)),
    _spec("cup", "indoor", ("white", "red", "blue"), ("mug",), ("cups", "mugs")),
    _spec("television", "electronic", (), ("tv",), ("televisions", "tvs")),
    _spec("plant", "plant", (), ("houseplant",), ("plants", "houseplants")),
    _spec("window", "indoor", (), (), ("windows",)),
    _spec("clock", "indoor", (), (), ("clocks",)),
)

LABELS = {spec.name: spec for spec in sorted(_SPECS, key=lambda spec: spec.name)}
LABEL_NAMES = tuple(LABELS)
# Labels drawn as regions of the background rather than as objects.
REGION_LABELS = ("sky", "road", "grass", "water", "sand", "snow")
# Labels that are scenery rather than the subject of a caption.
SCENERY_LABELS = REGION_LABELS + ("cloud", "mountain", "building", "tree", "fence", "window")


def category_id(label: str) -> int:
    """Returns the 1-based COCO category id of `label` (its position in LABEL_NAMES)."""
    return LABEL_NAMES.index(label) + 1
