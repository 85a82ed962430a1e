"""Builds the four vocabularies from plain Python data (no TensorFlow).

Every count comes from the TRAIN split only (SPEC M7, D1), so a word seen only in val or
test is `<unk>` and a label's rank does not depend on the evaluation images. Ordering:
- words: `<pad> <start> <end> <unk>`, then train count descending, ties alphabetical,
  at most `max_words` lines including the four specials;
- concepts: the `num_concepts` most frequent train caption words, same tie-break;
- labels: rare-first, i.e. number of train images with the label ascending, ties in the
  dataset's own label order; labels with no train image are kept (they come first);
- tags: the dataset's own tag-list order; or, for raw user tags (COCO's Flickr tags), the
  `max_tags` (1,000) most frequent: train image count descending, ties alphabetical, tags on
  no train image left out.
"""

import collections
from collections.abc import Iterable, Mapping, Sequence

from data_prep.sources.base import RawItem, SourceData
from s_cnn_rnn import record_schema
from s_cnn_rnn.tokenizer import tokenize
from s_cnn_rnn.vocabulary import Vocabularies, Vocabulary

TRAIN_SPLIT = "train"


def count_caption_words(
    items: Iterable[RawItem],
) -> tuple[collections.Counter, list[set[str]]]:
    """Counts tokenised caption words over `items` (no split filtering here).

    Returns:
      word_counts: word -> number of occurrences over all captions.
      image_word_sets: per item, in input order, the set of words in any of its captions.
    """
    word_counts: collections.Counter = collections.Counter()
    image_word_sets = []
    for item in items:
        words_of_image: set[str] = set()
        for caption in item.captions:
            tokens = tokenize(caption)
            word_counts.update(tokens)
            words_of_image.update(tokens)
        image_word_sets.append(words_of_image)
    return word_counts, image_word_sets


def _by_count_then_alphabet(word_counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Returns (word, count) pairs with count > 0, count descending, ties alphabetical."""
    for special in record_schema.WORD_SPECIALS:
        if special in word_counts:
            raise ValueError(f"caption words must not include the special token {special!r}")
    ranked = [(word, count) for word, count in word_counts.items() if count > 0]
    ranked.sort(key=lambda pair: (-pair[1], pair[0]))
    return ranked


def build_word_vocabulary(
    word_counts: Mapping[str, int], max_size: int = 12000, min_count: int = 1
) -> Vocabulary:
    """Builds words.txt: the four specials, then the most frequent words.

    Args:
      word_counts: train word counts (`count_caption_words`).
      max_size: total size INCLUDING the four specials (the paper's 12,000).
      min_count: drop words seen fewer times than this in train.

    Returns:
      The vocabulary. `<unk>`'s count is the number of train occurrences of the words
      left out; the other specials count 0.
    """
    num_specials = len(record_schema.WORD_SPECIALS)
    if max_size < num_specials:
        raise ValueError(f"max_size={max_size} cannot hold the {num_specials} special tokens")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    kept = [pair for pair in _by_count_then_alphabet(word_counts) if pair[1] >= min_count]
    kept = kept[: max_size - num_specials]
    left_out = sum(word_counts.values()) - sum(count for _, count in kept)
    special_counts = {token: 0 for token in record_schema.WORD_SPECIALS}
    special_counts[record_schema.UNK_TOKEN] = left_out
    return Vocabulary(
        list(record_schema.WORD_SPECIALS) + [word for word, _ in kept],
        [special_counts[token] for token in record_schema.WORD_SPECIALS] + [count for _, count in kept],
    )


def build_concept_vocabulary(
    word_counts: Mapping[str, int], num_concepts: int = 1000
) -> Vocabulary:
    """Builds concepts.txt: the `num_concepts` most frequent train words (fewer if fewer exist).

    No specials: concept i is output i of the k-way sigmoid layer.
    """
    if num_concepts < 1:
        raise ValueError(f"num_concepts must be >= 1, got {num_concepts}")
    kept = _by_count_then_alphabet(word_counts)[:num_concepts]
    return Vocabulary([word for word, _ in kept], [count for _, count in kept])


def build_label_vocabulary(
    train_label_lists: Iterable[Sequence[str]], label_names: Sequence[str]
) -> Vocabulary:
    """Builds labels.txt in rare-first order.

    Args:
      train_label_lists: one list of label names per TRAIN image.
      label_names: the dataset's label list in its own order (the tie-break).

    Returns:
      Every label of `label_names`, by train image count ascending, ties by position in
      `label_names`; counts are the number of train images carrying the label.

    Raises:
      ValueError: a duplicate in `label_names`, or a label in the data outside it.
    """
    position = {}
    for index, name in enumerate(label_names):
        if name in position:
            raise ValueError(f"label {name!r} appears twice in the dataset's label list")
        position[name] = index
    image_counts = dict.fromkeys(label_names, 0)
    for labels in train_label_lists:
        for label in set(labels):
            if label not in position:
                raise ValueError(
                    f"label {label!r} of a train image is not in the dataset's label list of "
                    f"{len(label_names)} labels: fix the reader or the label list"
                )
            image_counts[label] += 1
    ordered = sorted(label_names, key=lambda name: (image_counts[name], position[name]))
    return Vocabulary(ordered, [image_counts[name] for name in ordered])


def build_tag_vocabulary(
    tag_names: Sequence[str],
    train_tag_lists: Iterable[Sequence[str]] | None = None,
    max_tags: int | None = None,
) -> Vocabulary:
    """Builds tags.txt: the given tag list, or its `max_tags` most frequent train tags.

    Args:
      tag_names: the dataset's tag list (e.g. TagList1k.txt order).
      train_tag_lists: one tag list per TRAIN image, to record how many train images
        carry each tag; counts are 0 when omitted. Tags outside `tag_names` are ignored.
      max_tags: None keeps `tag_names` in its order (a curated list, as NUS-WIDE's Tag1K);
        N keeps the N tags on most train images, count descending, ties alphabetical, and
        drops tags on no train image (raw user tags, as COCO's: the paper keeps 1,000).
    """
    image_counts = dict.fromkeys(tag_names, 0)
    if len(image_counts) != len(tag_names):
        raise ValueError("the dataset's tag list holds a duplicate tag")
    for tags in train_tag_lists or ():
        for tag in set(tags):
            if tag in image_counts:
                image_counts[tag] += 1
    if max_tags is None:
        return Vocabulary(list(tag_names), [image_counts[name] for name in tag_names])
    if max_tags < 1:
        raise ValueError(f"max_tags must be >= 1, got {max_tags}")
    ranked = _by_count_then_alphabet(image_counts)[:max_tags]
    return Vocabulary([tag for tag, _ in ranked], [count for _, count in ranked])


def build_vocabularies(
    source_data: SourceData,
    max_words: int = 12000,
    min_word_count: int = 1,
    num_concepts: int = 1000,
    max_tags: int | None = None,
) -> Vocabularies:
    """Builds all four vocabularies from the TRAIN items of `source_data`.

    `max_tags`: None keeps the source's tag list; N keeps its N most frequent train tags.

    Raises:
      ValueError: no item has split "train", or a train label is outside the label list.
    """
    train_items = [item for item in source_data.items if item.split == TRAIN_SPLIT]
    if not train_items:
        splits = sorted({item.split for item in source_data.items})
        raise ValueError(
            f"no item has split {TRAIN_SPLIT!r} (splits present: {splits}); vocabularies are "
            "counted on the training split only, so give the reader a train split"
        )
    word_counts, _ = count_caption_words(train_items)
    return Vocabularies(
        words=build_word_vocabulary(word_counts, max_words, min_word_count),
        concepts=build_concept_vocabulary(word_counts, num_concepts),
        labels=build_label_vocabulary([item.labels for item in train_items], source_data.label_names),
        tags=build_tag_vocabulary(
            source_data.tag_names, [item.tags for item in train_items], max_tags),
    )


def concept_indices(captions: Iterable[str], concepts_vocab: Vocabulary) -> list[int]:
    """Returns the ascending concept ids of the words occurring in any of `captions`.

    An image whose captions hold no concept word gets an empty list (all-zero targets).
    """
    words = set()
    for caption in captions:
        words.update(tokenize(caption))
    return sorted(concepts_vocab.id_of(word) for word in words if word in concepts_vocab)


def label_sequence(labels: Iterable[str], labels_vocab: Vocabulary) -> list[int]:
    """Returns an image's label ids rare-first (labels.txt is rare-first, so ascending).

    Raises:
      ValueError: a label outside labels.txt (labels.txt holds the dataset's whole label
        list, so this is a reader bug, not a rare label).
    """
    ids = set()
    for label in labels:
        if label not in labels_vocab:
            raise ValueError(
                f"label {label!r} is not in labels.txt ({len(labels_vocab)} labels): the "
                "reader produced a label outside the dataset's label list"
            )
        ids.add(labels_vocab.id_of(label))
    return sorted(ids)


def tag_indices(tags: Iterable[str], tags_vocab: Vocabulary) -> list[int]:
    """Returns the ascending ids of an image's tags that are in tags.txt.

    Tags outside tags.txt are ignored on purpose: the tag list is the dataset's chosen
    subset (e.g. the 1,000 most popular Flickr tags), so other raw tags are by definition
    not side information.
    """
    return sorted({tags_vocab.id_of(tag) for tag in tags if tag in tags_vocab})


def coverage(word_counts: Mapping[str, int], vocab: Vocabulary) -> float:
    """Returns the fraction of all word occurrences whose word is in `vocab`.

    Raises:
      ValueError: `word_counts` holds no occurrence.
    """
    total = sum(word_counts.values())
    if total <= 0:
        raise ValueError("coverage of an empty word count is undefined")
    covered = sum(count for word, count in word_counts.items() if word in vocab)
    return covered / total
