"""Caption grammar: five different captions per image from its visible content.

Captions name the scene and the most salient objects (largest visible area, scenery
weighted down), with counts ("two dogs"), colours ("a red car"), synonyms ("a puppy"),
relations ("a man riding a bike", "next to a tree") and locations that name the region
labels ("on the road", "in the sky"). Each caption comes from a different template and
has 6-16 words.
"""

import numpy as np

from data_prep.synthetic.caption_context import CaptionContext
from data_prep.synthetic.caption_templates import TEMPLATES
from data_prep.synthetic.world import Layout


def make_captions(layout: Layout, areas: dict, rng: np.random.Generator,
                  count: int = 5) -> list[str]:
    """Returns `count` distinct captions.

    Args:
      layout: the image's layout.
      areas: index into `layout.things` -> visible pixels, for the visible instances only.
      rng: the image's text generator.
      count: captions wanted.
    """
    ctx = CaptionContext(layout, areas, rng)
    templates = list(TEMPLATES)
    rng.shuffle(templates)
    captions, seen = [], set()
    for attempt in range(12 * count):
        if len(captions) == count:
            return captions
        template = templates[attempt % len(templates)]
        words = template(ctx)
        if not words:
            continue
        words = ctx.fit_length(words)
        text = " ".join(words)
        if words and text not in seen:
            seen.add(text)
            captions.append(ctx.style(text))
    for attempt in range(200):  # near-empty images only: plain fallbacks, distinct if possible
        if len(captions) == count:
            break
        words = f"{_FALLBACK[attempt % len(_FALLBACK)]} {ctx.scene_pp()}".split()
        text = " ".join(ctx.fit_length(words) or words)
        if text not in seen or attempt >= 100:
            seen.add(text)
            captions.append(ctx.style(text))
    return captions


_FALLBACK = ("a photo taken", "a picture taken", "an image of a scene", "a view",
             "a quiet moment", "nothing much happening")
