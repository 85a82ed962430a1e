"""The 1,000-word noisy tag vocabulary and per-image user tags (NUS-WIDE style).

Tags imitate Flickr users: content words (label names, plurals, synonyms, scene words,
colours) mixed with words unrelated to the pixels (camera brands, places, years, photo
jargon). Per image, each true tag is dropped with probability `DROP_RATE` and a few
spurious tags are added, some of them label words that are not in the image.
"""

import numpy as np

from data_prep.synthetic import catalogue
from data_prep.synthetic import scene_types

NUM_TAGS = 1000
DROP_RATE = 0.3
_MEAN_FILLER_TAGS = 3.0
_SPURIOUS_LABEL_RATE = 0.15

_CAMERAS = (
    "canon nikon sony olympus pentax fuji fujifilm panasonic lumix leica kodak samsung minolta "
    "ricoh sigma tamron zeiss hasselblad polaroid holga lomo iphone d40 d50 d60 d70 d80 d90 "
    "d200 d300 d700 5d 7d 20d 30d 40d 350d 400d 450d 1000d xti rebel eos powershot coolpix "
    "cybershot dslr slr film analog digital 35mm 120 velvia provia kodachrome ektachrome"
).split()
_PLACES = (
    "usa america canada mexico brazil argentina peru chile england london scotland ireland "
    "wales france paris spain madrid barcelona portugal lisbon italy rome venice florence "
    "milan germany berlin munich austria vienna switzerland zurich netherlands amsterdam "
    "belgium brussels denmark copenhagen sweden stockholm norway oslo finland helsinki iceland "
    "poland prague hungary budapest greece athens turkey istanbul russia moscow egypt cairo "
    "morocco kenya africa india delhi mumbai nepal thailand bangkok vietnam china beijing "
    "shanghai hongkong japan tokyo kyoto osaka korea seoul taiwan singapore malaysia indonesia "
    "bali australia sydney melbourne newzealand hawaii california losangeles sanfrancisco "
    "seattle portland oregon washington newyork nyc manhattan brooklyn boston chicago texas "
    "austin florida miami colorado denver arizona utah nevada lasvegas alaska montreal "
    "toronto vancouver europe asia"
).split()
_PHOTO_WORDS = (
    "photo photography photos picture pictures image flickr explore interestingness "
    "abigfave supershot anawesomeshot impressedbeauty diamondclassphotographer "
    "flickrdiamond goldstaraward platinumphoto nikonstunninggallery bravo hdr macro "
    "closeup portrait landscape panorama bokeh longexposure blackandwhite bw sepia vintage "
    "retro toycamera lomography geotagged travel vacation holiday trip tourism tourist "
    "family friends me us kids baby wedding party birthday christmas halloween easter "
    "festival concert music art design architecture nature wildlife outdoor outdoors indoor "
    "light shadow reflection silhouette sunset sunrise dusk dawn morning evening afternoon "
    "day weekend fun happy love beautiful pretty cute nice cool old new big small little "
    " urbanexploration streetphotography candid life daily project365 "
    "365days 52weeks challenge contest award favorite best top wow amazing"
).split()
_GENERIC = (
    "summer spring autumn fall winter january february march april may june july august "
    "september october november december monday tuesday wednesday thursday friday saturday "
    "sunday home work school university village country countryside trail path "
    "walk walking hike hiking camping cycling running swimming fishing sailing "
    "skiing snowboarding surfing climbing yard backyard balcony rooftop bridge river "
    " pond stream waterfall forest woods valley canyon desert island coast "
    "cliff rocks stone wood leaf leaves plants animals pets pet "
    "kitty farmanimals zoo museum church cathedral castle skyline "
    " lights neon rain fog mist storm sunshine sunny "
    "cloudy weather cold hot warm colors colours colorful colourful color colour "
    "texture pattern abstract minimal square vertical horizontal 2"
).split()

_MORE = (
    "dublin edinburgh manchester liverpool bristol oxford cambridge brighton cornwall devon "
    "yorkshire glasgow belfast lyon marseille nice provence normandy brittany bordeaux "
    "seville valencia granada andalucia mallorca tuscany sicily naples sardinia bavaria "
    "hamburg cologne frankfurt dresden salzburg geneva lucerne bruges antwerp rotterdam "
    "krakow warsaw riga tallinn vilnius petersburg croatia dubrovnik slovenia serbia "
    "romania bulgaria cyprus malta crete santorini jordan israel jerusalem dubai iran "
    "pakistan srilanka tibet mongolia cambodia laos philippines manila jakarta fiji tahiti "
    "queensland perth adelaide tasmania auckland wellington patagonia bolivia ecuador "
    "colombia cuba havana jamaica caribbean puertorico quebec ontario alberta michigan "
    "detroit ohio pennsylvania philadelphia virginia carolina georgia atlanta tennessee "
    "nashville kentucky louisiana neworleans minnesota wisconsin iowa missouri kansas "
    "oklahoma newmexico idaho montana wyoming maine vermont massachusetts connecticut "
    "jersey maryland baltimore sandiego hollywood yosemite yellowstone grandcanyon "
    "duck goose swan owl eagle hawk pigeon seagull parrot squirrel rabbit deer fox bear "
    "wolf lion tiger elephant giraffe zebra monkey butterfly bee insect spider frog turtle "
    "lizard snake whale dolphin shark crab goat pig chicken donkey llama "
    "food dinner lunch breakfast coffee tea beer wine cake bread fruit apple "
    "banana strawberry pizza chocolate icecream restaurant cafe bar pub market shop store "
    "mall hotel airport station train subway tram taxi truck motorcycle scooter ferry "
    " yacht pier dock lighthouse beachhut boardwalk playground stadium "
    "football soccer baseball basketball tennis golf race marathon parade protest crowd "
    "dance dancing singing painting drawing sculpture statue monument memorial fountain "
    "graffiti streetart mural poster door doors gate stairs steps roof "
    "chimney arch column ruins temple mosque shrine pagoda palace garden skyscraper "
    "office factory industrial abandoned decay rust metal glass plastic paper fabric "
    " ice fire smoke steam dust mud gravel concrete brick tile "
    " stars star horizon lightning thunder wind "
    " violet gold bronze copper beige cream "
    " sad funny crazy weird strange quiet peaceful calm lonely alone together "
    "young child children girl boy man woman men women couple mother father sister "
    "brother grandma grandpa friend dad mom son daughter cousin uncle aunt "
    "self selfportrait face eyes hands smile hair fashion style model beauty glamour"
).split()

def _label_tags() -> list[str]:
    words = []
    for spec in catalogue.LABELS.values():
        words += [spec.name] + list(spec.plural) + list(spec.singular)
    return words


def _scene_tags() -> list[str]:
    words = []
    for scene in scene_types.SCENES:
        words += list(scene.tags) + [w for noun in scene.nouns for w in noun.split()]
    return words + ["night", "day", "dark", "sky"]


def build_tag_list() -> tuple[str, ...]:
    """The 1,000 tags: content tags first, then filler, then generated filler to 1,000."""
    candidates = (_label_tags() + _scene_tags() + list(catalogue.COLOURS)
                  + ["gray", "golden", "dark", "bright"] + _CAMERAS + _PLACES + _PHOTO_WORDS
                  + _GENERIC + _MORE)
    tags, seen = [], set()
    for word in candidates:
        if word not in seen:
            seen.add(word)
            tags.append(word)
    for extra in ([str(year) for year in range(1960, 2013)]
                  + [f"year{year}" for year in range(2000, 2013)]
                  + [f"{mm}mm" for mm in (10, 12, 14, 17, 18, 20, 24, 28, 35, 50, 55, 70, 85,
                                          100, 105, 135, 200, 300, 400, 500, 600)]
                  + [f"iso{iso}" for iso in (50, 100, 200, 400, 800, 1600, 3200, 6400)]
                  + [f"f{f}" for f in (14, 18, 2, 28, 35, 4, 56, 8, 11, 16, 22)]
                  + [f"{n}faves" for n in (5, 10, 25, 50, 100)]
                  + [f"{n}views" for n in (100, 200, 300, 500, 1000, 2000, 5000)]
                  + [f"top{n}" for n in (10, 20, 50, 100)]):
        if extra not in seen:
            seen.add(extra)
            tags.append(extra)
    number = 1
    while len(tags) < NUM_TAGS:  # deterministic padding: photo-set names
        name = f"set{number:03d}"
        number += 1
        if name not in seen:
            seen.add(name)
            tags.append(name)
    return tuple(tags[:NUM_TAGS])


TAG_LIST = build_tag_list()
_CONTENT = frozenset(_label_tags() + _scene_tags() + list(catalogue.COLOURS))
# Filler tags, Zipf-weighted in list order (early ones are "popular").
_FILLER = tuple(tag for tag in TAG_LIST if tag not in _CONTENT)
_FILLER_WEIGHTS = 1.0 / np.arange(1, len(_FILLER) + 1) ** 0.8
_FILLER_WEIGHTS /= _FILLER_WEIGHTS.sum()
_POSITION = {tag: i for i, tag in enumerate(TAG_LIST)}


def sample_tags(scene: str, night: bool, label_counts: dict, colours: list,
                rng: np.random.Generator) -> list[str]:
    """Noisy user tags for one image, sorted by their position in TAG_LIST.

    Args:
      scene: the scene key.
      night: the image is at night.
      label_counts: visible label -> number of visible instances.
      colours: colour names of the visible instances.
      rng: the image's tag generator.
    """
    true_tags = []
    for label in sorted(label_counts):
        spec = catalogue.LABELS[label]
        roll = rng.random()
        if roll < 0.6:
            true_tags.append(label)
        elif roll < 0.85 or len(spec.singular) == 1:
            true_tags.append(spec.plural[0] if label_counts[label] > 1 else label)
        else:
            true_tags.append(spec.singular[1 + int(rng.integers(len(spec.singular) - 1))])
    scene_tags = scene_types.SCENE_BY_NAME[scene].tags
    true_tags += [scene_tags[i] for i in rng.choice(len(scene_tags), 2, replace=False)]
    true_tags += sorted(set(colours))[:2] if rng.random() < 0.4 else []
    true_tags += ["night"] if night else []
    kept = {tag for tag in true_tags if rng.random() >= DROP_RATE}
    filler = rng.poisson(_MEAN_FILLER_TAGS)
    if filler:
        kept.update(_FILLER[i] for i in rng.choice(len(_FILLER), filler, p=_FILLER_WEIGHTS))
    if rng.random() < _SPURIOUS_LABEL_RATE:
        kept.add(catalogue.LABEL_NAMES[int(rng.integers(len(catalogue.LABEL_NAMES)))])
    return sorted(kept, key=_POSITION.__getitem__)
