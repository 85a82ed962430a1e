"""The paper's vocabulary figures, measured on all 202,654 real COCO val2014 captions.

Sec. 5.1: the 1,000 most frequent caption words "cover 92% of word occurrences". We
build the vocabularies through the real builder (every image treated as train) and check
that figure with our tokeniser, plus the 12,000-word output vocabulary's coverage.
"""

import collections
import gzip
import json

from data_prep import vocab_builder
from data_prep.sources.base import RawItem, SourceData
from s_cnn_rnn import record_schema

CAPTIONS_FILE = "coco_captions/captions_val2014_reconstructed.json.gz"


def _coco_val_items(path) -> list[RawItem]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        annotations = json.load(handle)
    captions_by_image = collections.defaultdict(list)
    for annotation in annotations["annotations"]:
        captions_by_image[annotation["image_id"]].append(annotation["caption"])
    return [
        RawItem(image["id"], image["file_name"], "train", None, captions_by_image[image["id"]])
        for image in sorted(annotations["images"], key=lambda image: image["id"])
    ]


def test_top_1000_words_cover_about_92_percent(shared_data_dir):
    items = _coco_val_items(shared_data_dir / CAPTIONS_FILE)
    assert len(items) == 40504
    assert sum(len(item.captions) for item in items) == 202654

    vocabs = vocab_builder.build_vocabularies(SourceData(items))
    word_counts, image_word_sets = vocab_builder.count_caption_words(items)
    concept_coverage = vocab_builder.coverage(word_counts, vocabs.concepts)
    word_coverage = vocab_builder.coverage(word_counts, vocabs.words)
    concepts_per_image = [
        len(vocab_builder.concept_indices(item.captions, vocabs.concepts)) for item in items[:2000]
    ]
    print(
        f"\nCOCO val2014: {sum(word_counts.values())} word occurrences, {len(word_counts)} distinct "
        f"words; top-1,000 coverage {concept_coverage:.4f}; 12,000-word vocabulary coverage "
        f"{word_coverage:.4f}; mean concepts per image (first 2,000 images) "
        f"{sum(concepts_per_image) / len(concepts_per_image):.1f}"
    )

    assert len(vocabs.concepts) == 1000
    assert len(vocabs.words) == min(12000, len(word_counts) + len(record_schema.WORD_SPECIALS))
    assert vocabs.concepts.tokens[0] == "a"  # the most frequent caption word
    assert vocabs.words.tokens[4:1004] == vocabs.concepts.tokens  # same ranking, same tie-break
    assert 0.88 <= concept_coverage <= 0.96  # the paper: 92%
    assert word_coverage > 0.99
    left_out = sum(count for word, count in word_counts.items() if word not in vocabs.words)
    assert vocabs.words.counts[record_schema.UNK_ID] == left_out
    # An image's concepts are exactly the concept words of its captions.
    first = items[0]
    expected = sorted(vocabs.concepts.id_of(w) for w in image_word_sets[0] if w in vocabs.concepts)
    assert vocab_builder.concept_indices(first.captions, vocabs.concepts) == expected
