"""Tokeniser, Vocabulary file format and the train-only vocabulary builders."""

import collections

import pytest

from data_prep import vocab_builder
from data_prep.sources.base import RawItem, SourceData
from s_cnn_rnn import record_schema
from s_cnn_rnn.tokenizer import tokenize
from s_cnn_rnn.vocabulary import Vocabularies, Vocabulary, VocabularyFileError


def _item(image_id, split, captions=(), labels=(), tags=()):
    return RawItem(image_id, f"{image_id}.jpg", split, None, list(captions), list(labels), list(tags))


def _source():
    """Three train images, one val, one test; labels and tags in the dataset's own order."""
    items = [
        _item(1, "train", ["A dog on a mat.", "The dog sleeps"], ["dog", "mat"], ["pet", "raw"]),
        _item(2, "train", ["A cat and a dog"], ["dog", "cat"], ["pet"]),
        _item(3, "train", ["a zebra"], ["zebra"]),
        _item(4, "val", ["An aardvark, a dog"], ["aardvark"]),
        _item(5, "test", ["a giraffe"], ["dog"]),
    ]
    return SourceData(
        items,
        label_names=["dog", "cat", "aardvark", "zebra", "mat"],
        tag_names=["sky", "pet"],
    )


def test_tokenize_lowercases_and_splits_on_non_alphanumerics():
    assert tokenize("A man's T-shirt, 2 DOGS!") == ["a", "man", "s", "t", "shirt", "2", "dogs"]
    assert tokenize(" ... ") == []


def test_tokenize_keeps_unicode_letters_and_digits():
    assert tokenize("Café au lait") == ["café", "au", "lait"]
    assert tokenize("cafe\u0301") == ["café"]  # combining accent == precomposed (NFC)
    assert tokenize("Straße, ÉLAN_vital; naïve 北京 ２") == ["straße", "élan", "vital", "naïve", "北京", "２"]


def test_word_counts_come_from_train_only():
    vocabs = vocab_builder.build_vocabularies(_source())
    words = vocabs.words
    assert words.tokens[:4] == list(record_schema.WORD_SPECIALS)
    assert words.id_of("dog") != record_schema.UNK_ID
    # "aardvark" and "giraffe" occur only in val/test captions.
    assert words.id_of("aardvark") == record_schema.UNK_ID
    assert words.id_of("giraffe") == record_schema.UNK_ID
    assert "aardvark" not in vocabs.concepts
    assert dict(zip(words.tokens, words.counts))["dog"] == 3  # not 4 with the val caption


def test_word_order_count_descending_ties_alphabetical():
    vocab = vocab_builder.build_word_vocabulary({"b": 2, "a": 2, "z": 5, "c": 1})
    assert vocab.tokens == list(record_schema.WORD_SPECIALS) + ["z", "a", "b", "c"]
    assert vocab.counts[4:] == [5, 2, 2, 1]


def test_word_cap_includes_specials_and_unk_counts_the_rest():
    counts = {f"w{i:05d}": 20000 - i for i in range(13000)}
    vocab = vocab_builder.build_word_vocabulary(counts)
    assert len(vocab) == 12000
    assert vocab.tokens[4] == "w00000" and vocab.tokens[-1] == "w11995"
    left_out = sum(20000 - i for i in range(11996, 13000))
    assert vocab.counts[record_schema.UNK_ID] == left_out
    assert vocab.id_of("w11996") == record_schema.UNK_ID


def test_word_min_count_and_bad_sizes():
    vocab = vocab_builder.build_word_vocabulary({"x": 3, "y": 1}, min_count=2)
    assert vocab.tokens[4:] == ["x"]
    with pytest.raises(ValueError, match="special"):
        vocab_builder.build_word_vocabulary({"x": 1}, max_size=3)
    with pytest.raises(ValueError, match="special token"):
        vocab_builder.build_word_vocabulary({"<unk>": 1})


def test_concepts_cap_tie_break_and_fewer_words():
    counts = {"c": 1, "b": 3, "a": 3, "d": 2}
    assert vocab_builder.build_concept_vocabulary(counts, num_concepts=3).tokens == ["a", "b", "d"]
    assert len(vocab_builder.build_concept_vocabulary(counts, num_concepts=1000)) == 4
    many = {f"w{i:04d}": 5000 - i for i in range(1500)}
    concepts = vocab_builder.build_concept_vocabulary(many)
    assert len(concepts) == 1000 and concepts.tokens[-1] == "w0999"
    assert record_schema.UNK_TOKEN not in concepts


def test_labels_rare_first_with_ties_in_dataset_order():
    vocabs = vocab_builder.build_vocabularies(_source())
    # Train image counts: dog 2, cat 1, aardvark 0 (val only), zebra 1, mat 1.
    assert vocabs.labels.tokens == ["aardvark", "cat", "zebra", "mat", "dog"]
    assert vocabs.labels.counts == [0, 1, 1, 1, 2]
    ids = vocab_builder.label_sequence(["dog", "zebra", "cat", "dog"], vocabs.labels)
    assert ids == [1, 2, 4]
    assert [vocabs.labels.token_of(i) for i in ids] == ["cat", "zebra", "dog"]  # rare first


def test_label_counts_are_per_image_not_per_mention():
    vocab = vocab_builder.build_label_vocabulary([["a", "a", "a"], ["b"], ["b"]], ["a", "b"])
    assert vocab.tokens == ["a", "b"] and vocab.counts == [1, 2]


def test_unknown_and_duplicate_labels_are_errors():
    with pytest.raises(ValueError, match="'horse'.*not in the dataset's label list"):
        vocab_builder.build_label_vocabulary([["horse"]], ["dog"])
    with pytest.raises(ValueError, match="twice"):
        vocab_builder.build_label_vocabulary([], ["dog", "dog"])
    labels = vocab_builder.build_label_vocabulary([["dog"]], ["dog"])
    with pytest.raises(ValueError, match="'horse' is not in labels.txt"):
        vocab_builder.label_sequence(["horse"], labels)


def test_tags_keep_dataset_order_and_ignore_unknown_tags():
    vocabs = vocab_builder.build_vocabularies(_source())
    assert vocabs.tags.tokens == ["sky", "pet"]
    assert vocabs.tags.counts == [0, 2]
    assert vocab_builder.tag_indices(["pet", "raw", "sky", "pet"], vocabs.tags) == [0, 1]
    assert vocab_builder.tag_indices(["raw"], vocabs.tags) == []


def test_no_train_split_is_a_clear_error():
    source = SourceData([_item(1, "val", ["a dog"])])
    with pytest.raises(ValueError, match="no item has split 'train'.*'val'"):
        vocab_builder.build_vocabularies(source)


def test_count_caption_words_per_image_sets():
    counts, sets = vocab_builder.count_caption_words(
        [_item(1, "train", ["a dog", "A DOG a"]), _item(2, "train", [])]
    )
    assert counts == collections.Counter({"a": 3, "dog": 2})
    assert sets == [{"a", "dog"}, set()]


def test_concept_indices_union_over_captions():
    concepts = Vocabulary(["a", "dog", "cat", "on"])
    assert vocab_builder.concept_indices(["A cat", "on the mat", "cat!"], concepts) == [0, 2, 3]


def test_caption_with_no_known_word():
    vocabs = vocab_builder.build_vocabularies(_source())
    caption = "Quokka yodels!"
    assert vocabs.words.encode(tokenize(caption)) == [record_schema.UNK_ID, record_schema.UNK_ID]
    assert vocab_builder.concept_indices([caption], vocabs.concepts) == []
    assert vocab_builder.concept_indices([""], vocabs.concepts) == []


def test_unknown_token_without_unk_raises_key_error():
    vocab = Vocabulary(["x", "y"])
    with pytest.raises(KeyError, match="'z'.*no <unk>"):
        vocab.id_of("z")
    with pytest.raises(IndexError, match="outside"):
        vocab.token_of(2)


def test_decode_stops_at_end_and_skips_specials():
    vocab = Vocabulary(list(record_schema.WORD_SPECIALS) + ["a", "dog"])
    ids = [record_schema.START_ID, 4, record_schema.UNK_ID, 5, record_schema.END_ID, 4, record_schema.PAD_ID]
    assert vocab.decode(ids) == ["a", "<unk>", "dog"]
    assert vocab.decode(ids, stop_at_end=False) == ["a", "<unk>", "dog", "a"]
    assert vocab.decode(ids, skip_specials=False) == ["<start>", "a", "<unk>", "dog"]
    assert vocab.encode(["a", "cat", "dog"]) == [4, record_schema.UNK_ID, 5]


def test_save_load_round_trip_with_spaces_and_non_ascii(tmp_path):
    vocab = Vocabulary(["sky", "rainbow in sky", "café", "北京", "a\x85b"], [0, 3, 7, 1, 2])
    path = tmp_path / "sub" / "labels.txt"
    vocab.save(path)
    assert path.read_text(encoding="utf-8").splitlines()[1] == "rainbow in sky\t3"
    assert Vocabulary.load(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["labels.txt"]  # no temp file left


def test_load_tolerates_crlf_and_empty_file(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"a\t2\r\nb c\t1\r\n")
    assert Vocabulary.load(path) == Vocabulary(["a", "b c"], [2, 1])
    path.write_bytes(b"")
    assert len(Vocabulary.load(path)) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("a\t1\nb\n", r"v\.txt:2: expected 'token<TAB>count'"),
        ("a\t1\n\nb\t1\n", r"v\.txt:2: expected"),
        ("a\t1\tx\n", r"v\.txt:1: expected"),
        ("a\tmany\n", r"v\.txt:1: count 'many'"),
        ("a\t-1\n", r"v\.txt:1: count '-1'"),
        ("a\t1\nb\t1\na\t2\n", r"v\.txt:3: duplicate token 'a' \(first on line 1\)"),
    ],
)
def test_malformed_file_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "v.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(VocabularyFileError, match=message):
        Vocabulary.load(path)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt does not exist.*s-cnn-rnn-convert"):
        Vocabulary.load(tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9\t1\n")
    with pytest.raises(VocabularyFileError, match=r"bad\.txt is not valid UTF-8"):
        Vocabulary.load(bad)


def test_constructor_rejects_unwritable_tokens():
    with pytest.raises(ValueError, match="duplicate token 'a'"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="tab/newline"):
        Vocabulary(["a\tb"])
    with pytest.raises(ValueError, match="counts"):
        Vocabulary(["a"], [1, 2])


def test_fingerprint_tracks_token_order_not_counts():
    base = Vocabulary(["a", "b", "c"], [3, 2, 1])
    assert base.fingerprint() == Vocabulary(["a", "b", "c"], [9, 9, 9]).fingerprint()
    assert base.fingerprint() != Vocabulary(["a", "c", "b"], [3, 1, 2]).fingerprint()
    assert base.fingerprint() != Vocabulary(["ab", "c"]).fingerprint()
    assert len(base.fingerprint()) == 64
    assert base != Vocabulary(["a", "b", "c"], [9, 9, 9])


def test_vocabularies_save_load_and_label_sequence_offsets(tmp_path):
    vocabs = vocab_builder.build_vocabularies(_source())
    vocabs.save(tmp_path)
    for name in (record_schema.WORDS_FILE, record_schema.CONCEPTS_FILE, record_schema.LABELS_FILE, record_schema.TAGS_FILE):
        assert (tmp_path / name).is_file()
    loaded = Vocabularies.load(tmp_path)
    assert loaded == vocabs
    assert loaded.fingerprints() == vocabs.fingerprints()
    assert set(vocabs.fingerprints()) == {"words", "concepts", "labels", "tags"}

    sequence_vocab = vocabs.label_sequence_vocabulary()
    assert sequence_vocab.tokens[:3] == list(record_schema.LABEL_SPECIALS)
    assert len(sequence_vocab) == len(vocabs.labels) + 3
    for index, label in enumerate(vocabs.labels.tokens):
        assert sequence_vocab.id_of(label) == index + len(record_schema.LABEL_SPECIALS)
    label_ids = vocab_builder.label_sequence(["dog", "cat"], vocabs.labels)
    tokens = [i + 3 for i in label_ids] + [record_schema.END_ID, record_schema.PAD_ID]
    assert sequence_vocab.decode(tokens) == ["cat", "dog"]


def test_vocabularies_load_names_missing_file(tmp_path):
    vocab_builder.build_vocabularies(_source()).save(tmp_path)
    (tmp_path / record_schema.TAGS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"tags\.txt"):
        Vocabularies.load(tmp_path)


def test_coverage():
    counts = {"a": 6, "b": 3, "c": 1}
    assert vocab_builder.coverage(counts, Vocabulary(["a", "b"])) == pytest.approx(0.9)
    assert vocab_builder.coverage(counts, Vocabulary([])) == 0.0
    with pytest.raises(ValueError, match="empty"):
        vocab_builder.coverage({}, Vocabulary(["a"]))
