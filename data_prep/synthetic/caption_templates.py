"""Caption templates: each returns a list of words, or None when it does not fit the image.

The docstring of each template is an example of what it writes.
"""

from data_prep.synthetic.caption_context import CaptionContext

def _t_subject(ctx: CaptionContext):
    """a red car parked on the road in a busy street"""
    groups = ctx.main_groups(1)
    if not groups:
        return None
    g = groups[0]
    words = ctx.noun_phrase(g) + [ctx.verb(g)] + (ctx.location(g) or [])
    return words + ctx.scene_pp(words).split()


def _t_pair(ctx: CaptionContext):
    """two dogs and a ball in a park"""
    groups = ctx.main_groups(2)
    if len(groups) < 2:
        return None
    return ctx.noun_phrase(groups[0]) + ["and"] + ctx.noun_phrase(groups[1]) + \
        ctx.scene_pp().split()


def _t_there(ctx: CaptionContext):
    """there is a dog on the grass next to a tree"""
    groups = ctx.main_groups(1)
    if not groups:
        return None
    g = groups[0]
    words = ["there", ctx.be(g)] + ctx.noun_phrase(g) + (ctx.location(g) or [])
    relation = ctx.relation(g)
    if relation and relation[0] != ["playing", "with"]:
        words += relation[0] + ctx.noun_phrase(relation[1], colour_ok=False)
    return words


def _t_scene_with(ctx: CaptionContext):
    """a busy street with cars, a bus and people"""
    groups = ctx.main_groups(3)
    if not groups:
        return None
    phrases = [ctx.noun_phrase(g) for g in groups]
    listed = phrases[0]
    for k, phrase in enumerate(phrases[1:], start=1):
        listed = listed + (["and"] if k == len(phrases) - 1 else [","]) + phrase
    noun = ctx.scene_noun()
    article = "an" if noun[0][0] in "aeiou" else "a"
    return [article] + noun + ["with"] + _join_commas(listed)


def _t_view(ctx: CaptionContext):
    """a view of the beach with an umbrella on the sand"""
    groups = ctx.main_groups(1)
    if not groups:
        return None
    g = groups[0]
    opener = ctx.pick(("a view of the", "a scene of a", "a picture of a", "an image of a"))
    return opener.split() + ctx.scene_noun() + ["with"] + ctx.noun_phrase(g) + \
        (ctx.location(g) or [])


def _t_relation(ctx: CaptionContext):
    """a man riding a bike on the street / a dog playing with a ball"""
    for g in ctx.main_groups(3):
        relation = ctx.relation(g)
        if relation:
            words, other = relation
            return ctx.noun_phrase(g) + words + ctx.noun_phrase(other, colour_ok=False) + \
                (ctx.location(g) or ctx.scene_pp().split())
    return None


def _t_photo(ctx: CaptionContext):
    """a photo of a cat and a lamp in a room"""
    groups = ctx.main_groups(2)
    if not groups:
        return None
    words = ctx.pick(("a photo of", "a picture of", "an image of", "a close up of")).split()
    words += ctx.noun_phrase(groups[0])
    if len(groups) > 1:
        words += ["and"] + ctx.noun_phrase(groups[1])
    return words + ctx.scene_pp().split()


def _t_sky(ctx: CaptionContext):
    """boats on the water under a cloudy sky"""
    if "sky" not in ctx.visible_regions:
        return None
    groups = [g for g in ctx.main_groups(2) if ctx.things[g.members[0]].place != "sky"]
    if not groups:
        return None
    g = groups[0]
    if ctx.layout.night:
        sky = ["a", "dark", "night", "sky"]
    else:
        sky = ["a", ctx.pick(("blue", "cloudy" if any(x.label == "cloud" for x in ctx.groups)
                              else "clear", "bright")), "sky"]
    return ctx.noun_phrase(g) + (ctx.location(g) or []) + ["under"] + sky


def _t_is_doing(ctx: CaptionContext):
    """a dog is running on the grass in the park"""
    for g in ctx.main_groups(2):
        verb = ctx.verb(g)
        if verb:
            words = ctx.noun_phrase(g) + [ctx.be(g), verb] + (ctx.location(g) or [])
            return words + ctx.scene_pp(words).split()
    return None


def _t_while(ctx: CaptionContext):
    """people walking on the sidewalk while cars are parked on the road"""
    groups = ctx.main_groups(2)
    if len(groups) < 2:
        return None
    first, second = groups
    verb = ctx.verb(second)
    if not verb:
        return None
    return ctx.noun_phrase(first, colour_ok=False) + (ctx.location(first) or []) + \
        ["while"] + ctx.noun_phrase(second, colour_ok=False) + [ctx.be(second), verb] + \
        (ctx.location(second) or [])


def _t_scene_first(ctx: CaptionContext):
    """in a park there are two dogs and a bench"""
    groups = ctx.main_groups(2)
    if not groups:
        return None
    words = ctx.scene_pp().split() + ["there", ctx.be(groups[0])] + ctx.noun_phrase(groups[0])
    if len(groups) > 1:
        words += ["and"] + ctx.noun_phrase(groups[1])
    return words


def _join_commas(words: list) -> list:
    """Attaches commas to the preceding word."""
    out = []
    for word in words:
        if word == "," and out:
            out[-1] += ","
        else:
            out.append(word)
    return out


TEMPLATES = (_t_subject, _t_pair, _t_there, _t_scene_with, _t_view, _t_relation, _t_photo,
              _t_sky, _t_is_doing, _t_while, _t_scene_first)
