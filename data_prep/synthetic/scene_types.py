"""Scene types: how often each occurs, its background bands and which objects it holds.

The scene type is what gives the dataset its co-occurrence structure: a street has a road
and often cars, a beach has sand, water and umbrellas, a room has furniture and no sky.
Further dependencies between objects (a ball brings a dog or a person, a cup needs a table)
are added in `world.py`.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Rule:
    """One kind of object a scene may contain.

    Attributes:
      label: the label drawn.
      prob: probability that the image contains at least one.
      count: (min, max) number of instances when present; low counts are likelier.
      place: where instances stand: "ground" (the scene's walkable band), "far" (the back
        of that band), "road", "water" (on the surface), "underwater", "sky", "horizon",
        "wall" or "table".
      when: "" always, "day" / "night" only at that time, "road" only if the scene has a road.
    """

    label: str
    prob: float
    count: tuple[int, int] = (1, 1)
    place: str = "ground"
    when: str = ""


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """A scene type.

    Attributes:
      name: scene key.
      prob: probability of the scene type.
      night_prob: probability that it is drawn at night (dark sky, lit windows).
      phrases: prepositional phrases naming the scene in captions.
      nouns: nouns naming the scene ("a view of the {noun}").
      tags: words a photographer would tag the scene with.
      rules: the objects it may contain.
    """

    name: str
    prob: float
    night_prob: float
    phrases: tuple[str, ...]
    nouns: tuple[str, ...]
    tags: tuple[str, ...]
    rules: tuple[Rule, ...]


_SKY_RULES = (
    Rule("cloud", 0.45, (1, 3), "sky"),
    Rule("sun", 0.30, place="sky", when="day"),
    Rule("bird", 0.12, (1, 5), "sky"),
    Rule("plane", 0.018, place="sky", when="day"),
    Rule("rainbow", 0.012, place="sky", when="day"),
)

SCENES = (
    SceneSpec(
        "street", 0.25, 0.16,
        ("on a city street", "in a busy street", "in the city", "in town", "on the street"),
        ("street", "city street", "town"),
        ("street", "city", "urban", "town", "downtown", "traffic"),
        (
            Rule("road", 1.0, place="region"),
            Rule("building", 0.85, (1, 4), "horizon"),
            Rule("house", 0.08, (1, 2), "horizon"),
            Rule("tree", 0.40, (1, 3), "far"),
            Rule("car", 0.72, (1, 4), "road"),
            Rule("bus", 0.18, place="road"),
            Rule("bicycle", 0.16, (1, 2), "ground"),
            Rule("person", 0.62, (1, 5), "ground"),
            Rule("sign", 0.30, place="far"),
            Rule("dog", 0.10, place="ground"),
            Rule("cat", 0.03, place="ground"),
            Rule("bench", 0.08, place="far"),
            Rule("umbrella", 0.04, place="ground"),
            Rule("moon", 0.45, place="sky", when="night"),
        ) + _SKY_RULES,
    ),
    SceneSpec(
        "park", 0.20, 0.0,
        ("in a park", "in the park", "in a green park", "in a garden"),
        ("park", "garden", "city park"),
        ("park", "garden", "green", "summer", "spring", "outdoor"),
        (
            Rule("grass", 1.0, place="region"),
            Rule("water", 0.15, place="region"),
            Rule("tree", 0.90, (1, 5), "far"),
            Rule("person", 0.55, (1, 4), "ground"),
            Rule("dog", 0.30, (1, 2), "ground"),
            Rule("ball", 0.20, place="ground"),
            Rule("bench", 0.35, place="far"),
            Rule("flower", 0.40, (1, 4), "ground"),
            Rule("fence", 0.20, place="far"),
            Rule("bicycle", 0.10, place="ground"),
            Rule("kite", 0.10, place="sky"),
            Rule("cat", 0.03, place="ground"),
            Rule("building", 0.10, (1, 2), "horizon"),
        ) + _SKY_RULES,
    ),
    SceneSpec(
        "room", 0.16, 0.0,
        ("in a living room", "in a room", "indoors", "inside a house", "in a cozy room"),
        ("room", "living room", "interior"),
        ("room", "interior", "indoor", "home", "house", "livingroom"),
        (
            Rule("table", 0.70, place="ground"),
            Rule("chair", 0.60, (1, 4), "ground"),
            Rule("lamp", 0.40, place="ground"),
            Rule("book", 0.35, (1, 3), "table"),
            Rule("cup", 0.30, (1, 2), "table"),
            Rule("television", 0.35, place="ground"),
            Rule("plant", 0.40, (1, 2), "ground"),
            Rule("window", 0.60, (1, 2), "wall"),
            Rule("clock", 0.09, place="wall"),
            Rule("person", 0.30, (1, 2), "ground"),
            Rule("cat", 0.20, place="ground"),
            Rule("dog", 0.10, place="ground"),
            Rule("ball", 0.06, place="ground"),
        ),
    ),
    SceneSpec(
        "beach", 0.12, 0.0,
        ("at the beach", "on a sandy beach", "by the sea", "on the shore"),
        ("beach", "seaside", "shore"),
        ("beach", "sea", "ocean", "coast", "summer", "vacation", "holiday"),
        (
            Rule("water", 1.0, place="region"),
            Rule("sand", 1.0, place="region"),
            Rule("umbrella", 0.50, (1, 3), "ground"),
            Rule("person", 0.60, (1, 4), "ground"),
            Rule("dog", 0.15, place="ground"),
            Rule("ball", 0.15, place="ground"),
            Rule("kite", 0.20, place="sky"),
            Rule("boat", 0.35, (1, 2), "water"),
            Rule("fish", 0.04, place="underwater"),
            Rule("mountain", 0.10, place="horizon"),
        ) + _SKY_RULES,
    ),
    SceneSpec(
        "farm", 0.10, 0.0,
        ("on a farm", "in a field", "in the countryside", "in a green meadow"),
        ("farm", "field", "countryside", "meadow"),
        ("farm", "field", "countryside", "rural", "meadow", "animals"),
        (
            Rule("grass", 1.0, place="region"),
            Rule("road", 0.25, place="region"),
            Rule("house", 0.70, (1, 2), "far"),
            Rule("fence", 0.60, (1, 2), "ground"),
            Rule("cow", 0.45, (1, 4), "ground"),
            Rule("horse", 0.30, (1, 3), "ground"),
            Rule("sheep", 0.30, (1, 6), "ground"),
            Rule("tree", 0.50, (1, 4), "far"),
            Rule("person", 0.20, place="ground"),
            Rule("dog", 0.20, place="ground"),
            Rule("flower", 0.20, (1, 3), "ground"),
            Rule("car", 0.60, place="road", when="road"),
            Rule("mountain", 0.20, place="horizon"),
        ) + _SKY_RULES,
    ),
    SceneSpec(
        "harbour", 0.10, 0.20,
        ("in a harbour", "at the harbor", "on a lake", "in a bay", "at the marina"),
        ("harbour", "harbor", "lake", "bay", "marina"),
        ("harbour", "harbor", "port", "lake", "marina", "sea", "boats"),
        (
            Rule("water", 1.0, place="region"),
            Rule("boat", 0.95, (1, 5), "water"),
            Rule("building", 0.50, (1, 4), "horizon"),
            Rule("bird", 0.25, (1, 4), "water"),
            Rule("fish", 0.12, (1, 3), "underwater"),
            Rule("mountain", 0.30, place="horizon"),
            Rule("moon", 0.45, place="sky", when="night"),
        ) + _SKY_RULES,
    ),
    SceneSpec(
        "winter", 0.07, 0.0,
        ("on a snowy mountain", "in a winter landscape", "on a ski slope", "in the snow"),
        ("winter landscape", "ski slope", "valley"),
        ("winter", "snow", "cold", "ski", "alps", "ice"),
        (
            Rule("snow", 1.0, place="region"),
            Rule("mountain", 0.90, (1, 2), "horizon"),
            Rule("tree", 0.50, (1, 5), "far"),
            Rule("person", 0.60, (1, 4), "ground"),
            Rule("dog", 0.10, place="ground"),
            Rule("house", 0.20, place="far"),
            Rule("fence", 0.10, place="ground"),
        ) + _SKY_RULES,
    ),
)
SCENE_BY_NAME = {scene.name: scene for scene in SCENES}

# Label -> (height at the front of the scene as a fraction of the image, width / height).
SIZES = {
    "car": (0.20, 2.1), "bus": (0.30, 2.6), "bicycle": (0.17, 1.7), "person": (0.40, 0.40),
    "dog": (0.17, 1.5), "cat": (0.12, 1.35), "ball": (0.06, 1.0), "kite": (0.11, 0.75),
    "bird": (0.035, 2.0), "boat": (0.26, 1.4), "fish": (0.06, 1.9), "umbrella": (0.30, 1.1),
    "horse": (0.32, 1.25), "cow": (0.24, 1.5), "sheep": (0.15, 1.35), "house": (0.38, 1.1),
    "building": (0.40, 0.55), "fence": (0.11, 4.0), "bench": (0.12, 2.2), "sign": (0.30, 0.30),
    "tree": (0.50, 0.65), "flower": (0.09, 1.2), "plant": (0.28, 0.6), "table": (0.20, 1.8),
    "chair": (0.24, 0.6), "lamp": (0.42, 0.35), "book": (0.05, 1.6), "cup": (0.06, 0.9),
    "television": (0.22, 1.5), "window": (0.24, 0.9), "clock": (0.11, 1.0), "plane": (0.05, 2.4),
    "sun": (0.13, 1.0), "moon": (0.11, 1.0), "cloud": (0.10, 2.2), "mountain": (0.26, 2.2),
    "rainbow": (0.40, 2.0),
}
