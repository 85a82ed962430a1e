"""COCO with Flickr user tags (Table 2, Ours+Tag1K): the user-tag reader, tags.txt from the most
frequent TRAIN tags, and the built-in dataset's tag file converted and trained end to end."""

import json
import os
import pathlib

import pytest
from absl import flags

from data_prep import convert_lib
from data_prep import vocab_builder
from data_prep.sources import coco
from data_prep.sources import coco_tags
from data_prep.sources.base import AnnotationError
from s_cnn_rnn import command_line
from s_cnn_rnn import option_flags
from s_cnn_rnn import record_schema

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _write(path: pathlib.Path, payload) -> str:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    return str(path)


def _labels_json(tmp_path: pathlib.Path, labels: dict) -> str:
    """Our simple label JSON for images named COCO_train2014_<id>.jpg (all train by default)."""
    return _write(tmp_path / "labels.json", {"names": ["cat", "dog"], "labels": labels})


def test_reader_normalises_tags_as_flickr_does(tmp_path):
    path = _write(tmp_path / "tags.json",
                  {"1": ["New York", "newyork", "St. Paul's", "DOG", "!!", "café"], "2": []})
    assert coco_tags.read_user_tags(path) == {1: ["newyork", "stpauls", "dog", "café"], 2: []}


@pytest.mark.parametrize("payload, problem", [
    ("[1, 2]", "expected a JSON object"),
    ('{"1": "dog"}', "expected a JSON array"),
    ('{"1": ["dog", 3]}', "not a string"),
    ('{"cat": ["dog"]}', "expected an integer"),
    ('{"1": ["dog"], "01": ["cat"]}', "listed twice"),
    ('{"1": ["dog"', "not valid JSON"),
])
def test_malformed_tag_file_is_an_annotation_error_naming_the_file(tmp_path, payload, problem):
    path = _write(tmp_path / "bad_tags.json", payload)
    with pytest.raises(AnnotationError, match=problem) as raised:
        coco_tags.read_user_tags(path)
    assert str(raised.value).startswith(path)


def test_missing_tag_file_is_an_annotation_error(tmp_path):
    with pytest.raises(AnnotationError, match="user-tag JSON not found"):
        coco.read_coco_multilabel(labels_json=_labels_json(tmp_path, {"1": ["cat"]}),
                                  user_tags_json=str(tmp_path / "nope.json"))


def test_images_missing_from_the_tag_file_get_no_tags(tmp_path):
    source = coco.read_coco_multilabel(
        labels_json=_labels_json(tmp_path, {"1": ["cat"], "2": ["dog"], "3": ["cat"]}),
        user_tags_json=_write(tmp_path / "tags.json", {"1": ["Kitty", "pet"], "3": [], "99": ["x"]}))
    assert {item.image_id: item.tags for item in source.items} == {1: ["kitty", "pet"], 2: [], 3: []}
    assert source.tag_names == ["kitty", "pet"]  # id 99 is not in the dataset: ignored
    counts = coco_tags.tag_counts("tags.json", source.items)
    assert counts == {"file": "tags.json", "images_with_tags": 1, "images_without_tags": {"train": 2}}


def test_tag_vocabulary_is_the_most_frequent_train_tags_ties_alphabetical():
    train = [["b", "a", "c"], ["b", "a"], ["b", "d"], ["e"]]
    vocab = vocab_builder.build_tag_vocabulary(["a", "b", "c", "d", "e", "f"], train, max_tags=3)
    assert vocab.tokens == ["b", "a", "c"] and vocab.counts == [3, 2, 1]  # c, d, e tie: c first
    everything = vocab_builder.build_tag_vocabulary(["a", "f"], train, max_tags=1000)
    assert everything.tokens == ["a"]  # f is on no train image: left out
    curated = vocab_builder.build_tag_vocabulary(["f", "a"], train)  # NUS-WIDE: the list's order
    assert curated.tokens == ["f", "a"]


def test_convert_keeps_the_top_train_tags_only(tmp_path):
    """Tags of test images never enter tags.txt, however frequent."""
    labels = {str(i): ["cat"] for i in range(1, 9)}
    tags = {"1": ["sun", "rare"], "2": ["sun", "beach"], "3": ["beach", "sun"], "4": ["zebra"],
            "5": ["testonly"], "6": ["testonly"], "7": ["testonly"], "8": ["testonly"]}
    test_ids = _write(tmp_path / "test_ids.txt", "5\n6\n7\n8\n")
    output = tmp_path / "out"
    manifest = convert_lib.convert(convert_lib.ConvertOptions(
        dataset="coco_multilabel", output_dir=str(output), labels_json=_labels_json(tmp_path, labels),
        user_tags_json=_write(tmp_path / "tags.json", tags), num_user_tags=3,
        splits=f"test:{test_ids}", num_workers=0, show_progress=False))
    lines = (output / record_schema.VOCAB_DIR / "tags.txt").read_text().splitlines()
    assert lines == ["sun\t3", "beach\t2", "rare\t1"]  # zebra ties rare at 1: alphabetical cut
    assert manifest["user_tags"]["images_with_tags"] == 8
    assert manifest["vocabularies"]["tags"]["size"] == 3


def test_user_tags_are_for_coco_multilabel_only(tmp_path):
    with pytest.raises(convert_lib.ConversionError, match="--user_tags_json"):
        convert_lib.convert(convert_lib.ConvertOptions(
            dataset="coco_captions", output_dir=str(tmp_path / "out"), captions_json=["c.json"],
            user_tags_json="tags.json", num_workers=0, show_progress=False))


def _parse(command: str, define, args: list[str]):
    """`args` parsed exactly as the console script `command` parses them (flagfiles, one-line errors),
    in this process: the test is about the data and the Tag1K row, not the process boundary (each
    command has its own subprocess test), and a TensorFlow start-up costs ~6 CPU s."""
    values = flags.FlagValues()
    defined = define(values)
    command_line.parse_flags([command, *args], command, values)
    return defined


def test_synthetic_coco_layout_with_user_tags_converts_and_trains_tag1k(tmp_path, monkeypatch):
    """Built-in dataset in COCO layout + its user-tag file -> convert -> Tag1K flagfile, 2 steps a stage."""
    from data_prep import synthetic  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn import train_flags  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import stage_runner  # pylint: disable=import-outside-toplevel

    monkeypatch.chdir(PROJECT_ROOT)  # the flagfile path below is relative, as in the README
    raw = tmp_path / "raw"
    synthetic.generate(str(raw), num_train=40, num_val=8, num_test=8, image_size=32, seed=1,
                       num_workers=None)
    written = json.loads((raw / "annotations" / "user_tags.json").read_text())
    assert len(written) == 56 and all(isinstance(tags, list) for tags in written.values())
    data_dir = tmp_path / "data"
    convert = _parse("s-cnn-rnn-convert", lambda values: option_flags.define(
        convert_lib.ConvertOptions, defaults={"dataset": "synthetic"}, flag_values=values), [
            "--dataset=coco_multilabel", f"--output_dir={data_dir}",
            f"--instances_json={raw / 'annotations' / 'instances.json'}", f"--image_dir={raw / 'images'}",
            f"--user_tags_json={raw / 'annotations' / 'user_tags.json'}", "--num_user_tags=50",
            f"--splits=val:{raw / 'splits' / 'val_ids.txt'},test:{raw / 'splits' / 'test_ids.txt'}",
            "--num_workers=0", "--noprogress"])
    convert_lib.convert(convert.build())
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert manifest["vocabularies"]["tags"]["size"] == 50  # the 40 train images carry > 50 tags
    assert len((data_dir / "vocab" / "tags.txt").read_text().splitlines()) == 50
    assert manifest["user_tags"]["images_with_tags"] >= 50

    model_dir = tmp_path / "model"
    train = _parse("s-cnn-rnn-train", train_flags.define, [
        "--flagfile=flags/coco_multilabel_ours_tag1k.flags",
        f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--stage=all", "--backbone=small_cnn",
        "--backbone_weights=none", "--image_size=32", "--small_cnn_width=8", "--embedding_dim=16",
        "--lstm_units=16", "--batch_size=4", "--train_steps=2", "--cnn_head_steps=0",
        "--val_split=", "--log_every=1", "--checkpoint_every=2", "--validate_every=0"])
    stage_runner.train(train.options())
    config = json.loads(next(model_dir.rglob("model_config.json")).read_text())
    assert config["use_tags"] is True and config["num_tags"] == 50
    for stage in ("cnn", "rnn", "joint"):
        assert (model_dir / stage / "history.jsonl").is_file(), os.listdir(model_dir)
