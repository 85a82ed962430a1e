"""Flickr user tags of COCO images (the side information of Table 2's "Ours+Tag1K").

The paper downloaded the original Flickr tags of the COCO images and kept the 1,000 most
frequent (Sec. 4.2; BUILD_NOTES.md, paper decisions D3). We read them from one JSON object:

    {"<image id>": ["tag", "tag", ...], ...}

keys are COCO image ids (digits), values lists of strings. Ids of images the dataset does not
hold are ignored; an image whose id is absent gets no tag (counted in manifest.json).
A tag is normalised as NUS-WIDE's Flickr tags are: lower-case letters and digits (accented and
non-Latin letters kept, as the caption tokeniser keeps them), written together ("New York" -> "newyork", "St. Paul's" -> "stpauls"; the caption tokeniser's
runs, joined). A tag left empty is dropped, repeats within an image count once.
Which tags become `tags.txt` (the 1,000 most frequent TRAIN tags) is the vocabulary's job
(`data_prep.vocab_builder.build_tag_vocabulary`).
"""

from data_prep.sources import annotation_io
from data_prep.sources.annotation_io import fail
from s_cnn_rnn.tokenizer import tokenize

_TAGS_FIX = 'Write it as one JSON object {"<image id>": ["tag", ...], ...}.'


def normalise_tag(tag: str) -> str:
    """The clean form of a raw tag: its lower-case letters and digits (any script), joined ("" if none)."""
    return "".join(tokenize(tag))


def read_user_tags(path: str) -> dict[int, list[str]]:
    """Reads a user-tag file (format in the module docstring).

    Args:
      path: the JSON file.

    Returns:
      image id -> its normalised tags, distinct, in first-seen order (may be empty).

    Raises:
      AnnotationError: the file is missing, not JSON, not an object of string lists, or has a
        key that is not an image id; the message names the file and the entry.
    """
    document = annotation_io.read_json(path, "user-tag JSON", _TAGS_FIX)
    if not isinstance(document, dict):
        raise fail(path, f"the top level is a {type(document).__name__}, expected a JSON object",
                   _TAGS_FIX)
    tags_by_id = {}
    for key, raw_tags in document.items():
        where = f"[{key!r}]"
        image_id = annotation_io.as_image_id(key, path, where, _TAGS_FIX)
        annotation_io.require_list(raw_tags, path, where, _TAGS_FIX)
        if not all(isinstance(tag, str) for tag in raw_tags):
            raise fail(path, f"{where} holds a tag that is not a string", _TAGS_FIX)
        if image_id in tags_by_id:
            raise fail(path, f"image id {image_id} is listed twice", _TAGS_FIX)
        tags = (normalise_tag(tag) for tag in raw_tags)
        tags_by_id[image_id] = list(dict.fromkeys(tag for tag in tags if tag))
    return tags_by_id


def tag_counts(path: str, items) -> dict:
    """manifest.json's account of the user tags: the file, and images without a tag per split.

    Args:
      path: the user-tag file read.
      items: the `RawItem`s converted (their `tags` as read).

    Returns:
      {"file", "images_with_tags", "images_without_tags": {split: count}}; an image is without
      tags when the file lacks its id, lists no tag, or only tags that normalise to nothing.
    """
    without: dict[str, int] = {}
    for item in items:
        if not item.tags:
            without[item.split] = without.get(item.split, 0) + 1
    return {
        "file": path,
        "images_with_tags": sum(1 for item in items if item.tags),
        "images_without_tags": dict(sorted(without.items())),
    }
