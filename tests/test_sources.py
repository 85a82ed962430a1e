"""Tests for the raw dataset readers (data_prep/sources): tiny hand-made files, every error
path, and the real shared samples (coco_mini12, nuswide_mini3, the COCO multi-label npz)."""

import json
import os

import numpy as np
import pytest

from data_prep.sources import annotation_io, coco
from data_prep.sources.base import AnnotationError
from data_prep.sources.splits import parse_splits_flag, split_of


def _write(path, content) -> str:
    """Writes str (as UTF-8), bytes, or a JSON-able object; returns the path as str."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, bytes):
        data = content
    elif isinstance(content, str):
        data = content.encode("utf-8")
    else:
        data = json.dumps(content).encode("utf-8")
    with open(path, "wb") as stream:
        stream.write(data)
    return str(path)


def _raises(match: str, function, *args, **kwargs) -> str:
    with pytest.raises(AnnotationError) as caught:
        function(*args, **kwargs)
    assert match in str(caught.value), str(caught.value)
    return str(caught.value)


# ----------------------------------------------------------------------------- splits, helpers


def test_parse_splits_flag(tmp_path):
    val = _write(tmp_path / "val.txt", "5\n\n 7 \r\n")
    test = _write(tmp_path / "test.txt", "9\n9\n")  # a repeat within one file is harmless
    splits = parse_splits_flag(f"val:{val}, test:{test}")
    assert splits == {5: "val", 7: "val", 9: "test"}
    assert split_of(9, splits) == "test" and split_of(1, splits) == "train"
    assert parse_splits_flag("") == {} and parse_splits_flag(None) == {}


def test_parse_splits_flag_errors(tmp_path):
    good = _write(tmp_path / "good.txt", "1\n2\n")
    bad = _write(tmp_path / "bad.txt", "3\n\nfour\n")
    other = _write(tmp_path / "other.txt", "2\n")
    _raises(f"{tmp_path / 'absent.txt'}: split id file not found", parse_splits_flag,
            f"val:{tmp_path / 'absent.txt'}")
    message = _raises("line 3 is 'four'", parse_splits_flag, f"val:{bad}")
    assert bad in message
    message = _raises("image id 2 is also listed in", parse_splits_flag, f"val:{good},test:{other}")
    assert good in message and other in message
    _raises("is not NAME:FILE", parse_splits_flag, "val")
    _raises("names the split 'val' twice", parse_splits_flag, f"val:{good},val:{other}")


def test_read_json_errors_name_the_file_and_line(tmp_path):
    broken = _write(tmp_path / "broken.json", '{"images": [\n  {"id": 1,}\n]}')
    message = _raises("is not valid JSON (line 2", annotation_io.read_json, broken, "test JSON")
    assert message.startswith(broken)
    absent = str(tmp_path / "none.json")
    _raises("test JSON not found", annotation_io.read_json, absent, "test JSON")


def test_read_text_lines_strips_carriage_returns(tmp_path):
    path = _write(tmp_path / "list.txt", b"a\r\nb \r\n\r\nc")
    assert annotation_io.read_text_lines(path, "list") == ["a", "b", "", "c"]


# ----------------------------------------------------------------------------- COCO captions


def _caption_json(images: dict[int, str], captions: list[tuple[int, str]]) -> dict:
    return {
        "images": [{"id": i, "file_name": name} for i, name in images.items()],
        "annotations": [
            {"id": n, "image_id": i, "caption": text} for n, (i, text) in enumerate(captions)
        ],
    }


def test_coco_captions_two_files_two_dirs_and_splits(tmp_path):
    train = _write(tmp_path / "captions_train.json", _caption_json(
        {3: "COCO_train2014_3.jpg", 1: "COCO_train2014_1.jpg"},
        [(3, "a dog"), (1, "a cat"), (1, "a cat again")]))
    val = _write(tmp_path / "captions_val.json", _caption_json(
        {2: "COCO_val2014_2.jpg"}, [(2, "a bird")]))
    first, second = tmp_path / "train2014", tmp_path / "val2014"
    _write(first / "COCO_train2014_1.jpg", b"x")
    _write(second / "COCO_val2014_2.jpg", b"x")  # 3 exists nowhere
    data = coco.read_coco_captions([train, val], [str(first), str(second)], {2: "test"})
    assert [item.image_id for item in data.items] == [1, 2, 3]
    one, two, three = data.items
    assert one.captions == ["a cat", "a cat again"] and one.source_id == "COCO_train2014_1.jpg"
    assert one.image_path == str(first / "COCO_train2014_1.jpg")
    assert two.image_path == str(second / "COCO_val2014_2.jpg")
    assert three.image_path == str(first / "COCO_train2014_3.jpg")  # missing: first dir
    assert [item.split for item in data.items] == ["train", "test", "train"]
    assert data.skipped == [] and data.label_names == []


def test_coco_captions_drops_bad_captions_and_uncaptioned_images(tmp_path):
    document = json.dumps(_caption_json(
        {1: "a.jpg", 2: "b.jpg", 3: "c.jpg", 4: "d.jpg", 5: "e.jpg"},
        [(1, "fine caption"), (1, "BAD"), (2, "BAD"), (3, "   "), (9, "orphan"),
         (5, "lone \udc80 surrogate escape")]))
    # Raw invalid UTF-8 bytes inside the caption strings, as a broken export would write them.
    path = _write(tmp_path / "captions.json", document.encode("utf-8").replace(b"BAD", b"caf\xe9"))
    data = coco.read_coco_captions(path, None)
    assert [(item.image_id, item.captions, item.image_path) for item in data.items] == [
        (1, ["fine caption"], None)
    ]
    caption_skips = [(s["id"], s["reason"]) for s in data.skipped if s["kind"] == "caption"]
    assert caption_skips == [
        (1, "caption is not valid UTF-8"), (2, "caption is not valid UTF-8"), (3, "empty caption"),
        (9, "caption of an image id not in 'images'"), (5, "caption is not valid UTF-8"),
    ]
    image_skips = [(s["id"], s["reason"]) for s in data.skipped if s["kind"] == "image"]
    assert image_skips == [(2, "no captions"), (3, "no captions"), (4, "no captions"),
                           (5, "no captions")]


@pytest.mark.parametrize("content, match", [
    (b'{"images": [', "is not valid JSON"),
    ({"images": []}, "the top level has no 'annotations'"),
    ({"images": {}, "annotations": []}, "'images' is a dict, expected a JSON array"),
    ({"images": [{"id": 1}], "annotations": []}, "images[0] has no 'file_name'"),
    ({"images": [{"id": "x", "file_name": "a.jpg"}], "annotations": []}, "image id 'x'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1}]},
     "annotations[0] has no 'caption'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}],
      "annotations": [{"image_id": 1, "caption": 5}]}, "annotations[0] has a caption of type int"),
])
def test_coco_captions_malformed_files(tmp_path, content, match):
    path = _write(tmp_path / "captions.json", content)
    assert _raises(match, coco.read_coco_captions, [path], None).startswith(path)


def test_coco_captions_missing_inputs(tmp_path):
    _raises("COCO captions JSON not found", coco.read_coco_captions, [str(tmp_path / "no.json")])
    path = _write(tmp_path / "c.json", _caption_json({1: "a.jpg"}, [(1, "x")]))
    _raises("image directory not found", coco.read_coco_captions, [path], [str(tmp_path / "nodir")])
    other = _write(tmp_path / "d.json", _caption_json({1: "b.jpg"}, [(1, "y")]))
    _raises("image id 1 is 'b.jpg' here but 'a.jpg'", coco.read_coco_captions, [path, other])


def test_coco_captions_real_mini12(shared_data_dir):
    mini = shared_data_dir / "coco_mini12"
    data = coco.read_coco_captions([str(mini / "captions.json")], [str(mini / "images")])
    assert len(data.items) == 12 and data.skipped == []
    assert [item.image_id for item in data.items] == sorted(item.image_id for item in data.items)
    assert all(len(item.captions) == 5 and os.path.isfile(item.image_path) for item in data.items)


# ----------------------------------------------------------------------------- COCO multi-label


def _instances(images: dict[int, str], annotations: list[tuple[int, int]]) -> dict:
    return {
        "images": [{"id": i, "file_name": name} for i, name in images.items()],
        "annotations": [{"image_id": i, "category_id": c} for i, c in annotations],
        # Deliberately out of id order: label order must follow the category id.
        "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
    }


def test_coco_multilabel_instances(tmp_path):
    path = _write(tmp_path / "instances.json", _instances(
        {10: "COCO_train2014_10.jpg", 20: "COCO_val2014_20.jpg", 30: "COCO_val2014_30.jpg"},
        [(10, 3), (10, 1), (10, 3), (20, 3), (99, 1)]))
    data = coco.read_coco_multilabel(instances_json=path)
    assert data.label_names == ["person", "car"]
    assert [(i.image_id, i.labels, i.split) for i in data.items] == [
        (10, ["person", "car"], "train"), (20, ["car"], "test")]  # SPEC D3 default split
    assert {(s["id"], s["reason"]) for s in data.skipped} == {
        (30, "no labels"), (99, "annotations for an image id not in 'images'")}
    moved = coco.read_coco_multilabel(instances_json=[path], splits={20: "val"})
    assert [item.split for item in moved.items] == ["train", "val"]


def test_coco_multilabel_simple_json_with_captions(tmp_path):
    labels = _write(tmp_path / "labels.json", {
        "names": ["car", "person"], "category_id": [3, 1],
        "labels": {"7": ["car", "person"], "8": []}})
    captions = _write(tmp_path / "captions.json", _caption_json(
        {7: "COCO_val2014_7.jpg", 8: "COCO_val2014_8.jpg"}, [(7, "a man by a car")]))
    images = tmp_path / "images"
    _write(images / "COCO_val2014_7.jpg", b"x")
    data = coco.read_coco_multilabel(
        labels_json=labels, captions_json=captions, image_dirs=[str(images)]
    )
    assert data.label_names == ["person", "car"]
    (item,) = data.items
    assert item.labels == ["person", "car"] and item.captions == ["a man by a car"]
    assert item.split == "test" and item.image_path == str(images / "COCO_val2014_7.jpg")
    assert data.skipped == [{"id": 8, "kind": "image", "reason": "no labels"}]


def test_coco_multilabel_npz(tmp_path):
    path = str(tmp_path / "labels.npz")
    image_sets = np.array(["val2014", "train2014", "val2014"])
    np.savez(path, image_id=np.array([5, 2, 9]), split=image_sets,
             labels=np.array([[1, 0], [1, 1], [0, 0]], np.uint8), names=np.array(["b", "a"]),
             category_id=np.array([4, 2]))
    images = tmp_path / "images"
    _write(images / "COCO_train2014_000000000002.jpg", b"x")
    data = coco.read_coco_multilabel(labels_npz=path, image_dirs=[str(images)])
    assert data.label_names == ["a", "b"]
    assert [(i.image_id, i.labels, i.split, i.source_id) for i in data.items] == [
        (2, ["a", "b"], "train", "COCO_train2014_000000000002.jpg"),
        (5, ["b"], "test", "COCO_val2014_000000000005.jpg")]
    assert data.items[0].image_path == str(images / "COCO_train2014_000000000002.jpg")
    assert data.skipped == [{"id": 9, "kind": "image", "reason": "no labels"}]


def test_coco_multilabel_errors(tmp_path):
    good = _write(tmp_path / "i.json", _instances({1: "a.jpg"}, [(1, 1)]))
    _raises("exactly one of", coco.read_coco_multilabel)
    _raises("exactly one of", coco.read_coco_multilabel, instances_json=good, labels_json=good)
    no_categories = _write(tmp_path / "n.json", {"images": [], "annotations": []})
    _raises("has no 'categories'", coco.read_coco_multilabel, instances_json=no_categories)
    unknown = _write(tmp_path / "u.json", _instances({1: "a.jpg"}, [(1, 2)]))
    _raises("annotations[0] has category_id 2, not in 'categories'", coco.read_coco_multilabel,
            instances_json=unknown)
    other = _instances({2: "b.jpg"}, [])
    other["categories"] = [{"id": 1, "name": "dog"}]
    _raises("categories differ", coco.read_coco_multilabel,
            instances_json=[good, _write(tmp_path / "o.json", other)])
    bad_label = _write(tmp_path / "l.json", {"names": ["a"], "labels": {"1": ["zebra"]}})
    _raises("labels['1'] has labels not in 'names'", coco.read_coco_multilabel,
            labels_json=bad_label)
    npz = str(tmp_path / "x.npz")
    np.savez(npz, image_id=np.array([1]), names=np.array(["a"]))
    _raises("the npz has no array labels", coco.read_coco_multilabel, labels_npz=npz)
    np.savez(npz, image_id=np.array([1]), names=np.array(["a"]), labels=np.zeros((1, 2)))
    _raises("'labels' has shape (1, 2), expected (1, 1)", coco.read_coco_multilabel, labels_npz=npz)
    not_zip = _write(tmp_path / "y.npz", b"not a zip at all")
    _raises("cannot read the npz", coco.read_coco_multilabel, labels_npz=not_zip)


def test_coco_multilabel_real_mini12(shared_data_dir):
    mini = shared_data_dir / "coco_mini12"
    data = coco.read_coco_multilabel(
        labels_json=str(mini / "labels80.json"), image_dirs=[str(mini / "images")],
        captions_json=[str(mini / "captions.json")])
    assert len(data.label_names) == 80 and data.label_names[:2] == ["person", "bicycle"]
    assert len(data.items) == 11
    assert data.skipped == [{"id": 336777, "kind": "image", "reason": "no labels"}]
    assert all(item.split == "test" and len(item.captions) == 5 for item in data.items)
    assert all(os.path.isfile(item.image_path) for item in data.items)
    # Without the caption file, the image files are found by the id at the end of their name.
    by_id = coco.read_coco_multilabel(
        labels_json=str(mini / "labels80.json"), image_dirs=[str(mini / "images")])
    assert [item.image_path for item in by_id.items] == [item.image_path for item in data.items]
    assert all(item.split == "test" and item.captions == [] for item in by_id.items)


def test_coco_multilabel_real_npz(shared_data_dir):
    data = coco.read_coco_multilabel(
        labels_npz=str(shared_data_dir / "coco_multilabel" / "coco2014_multilabel80.npz"))
    assert len(data.items) == 122218 and len(data.label_names) == 80
    assert sum(item.split == "train" for item in data.items) == 82081  # train2014 images
    assert sum(item.split == "test" for item in data.items) == 40137  # val2014 images
    assert data.items[0].image_id == 9 and data.items[0].labels == ["bowl", "orange", "broccoli"]
