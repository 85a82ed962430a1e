"""Tests for the NUS-WIDE reader and the synthetic-dataset reader built on the real readers."""

import json
import os

import numpy as np
import pytest

from data_prep.sources import nuswide, synthetic
from data_prep.sources.base import AnnotationError

CONCEPTS = ["sky", "animal", "boats"]  # not alphabetical: the list's own order must be kept
TAGS = ["sea", "cat", "moon", "trip"]


def _write(path, content) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    with open(path, "wb") as stream:
        stream.write(data)
    return str(path)


def _crlf(lines) -> str:
    return "".join(f"{line}\r\n" for line in lines)


def make_nuswide(root, train, test, with_tags=True):
    """Writes the official NUS-WIDE layout for (entry, labels, tags) rows of each list."""
    _write(root / "Concepts81.txt", _crlf(CONCEPTS))
    for part, rows in (("Train", train), ("Test", test)):
        _write(root / "ImageList" / f"{part}Imagelist.txt", _crlf(entry for entry, _, _ in rows))
        for concept in CONCEPTS:
            values = [int(concept in labels) for _, labels, _ in rows]
            _write(root / "Groundtruth" / "TrainTestLabels" / f"Labels_{concept}_{part}.txt",
                   _crlf(values))
        if with_tags:
            lines = ["\t".join(str(int(tag in tags)) for tag in TAGS) + "\t" for _, _, tags in rows]
            _write(root / "NUS_WID_Tags" / f"{part}_Tags1k.dat", _crlf(lines))
    if with_tags:
        _write(root / "NUS_WID_Tags" / "TagList1k.txt", _crlf(TAGS))
    return str(root)


TRAIN_ROWS = [
    ("boats\\0002_400.jpg", {"boats", "sky"}, {"sea", "trip"}),
    ("animal\\0001_300.jpg", {"animal"}, {"cat"}),
    ("sky\\0003_500.jpg", set(), {"moon"}),  # no ground-truth label: skipped (SPEC D2)
]
TEST_ROWS = [("sky\\0004_100.jpg", {"sky"}, set())]


def _raises(match, function, *args, **kwargs) -> str:
    with pytest.raises(AnnotationError) as caught:
        function(*args, **kwargs)
    assert match in str(caught.value), str(caught.value)
    return str(caught.value)


def test_official_layout(tmp_path):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS)
    images = tmp_path / "Flickr"
    images.mkdir()
    data = nuswide.read_nuswide(nuswide_dir=root, image_dir=str(images), splits={400: "val"})
    assert data.label_names == CONCEPTS and data.tag_names == TAGS
    assert [(i.image_id, i.split, i.labels, i.tags) for i in data.items] == [
        (100, "test", ["sky"], []),
        (300, "train", ["animal"], ["cat"]),
        (400, "val", ["sky", "boats"], ["sea", "trip"]),
    ]
    assert data.items[2].source_id == "boats/0002_400.jpg"
    assert data.items[2].image_path == str(images / "boats" / "0002_400.jpg")
    assert data.skipped == [{"id": 500, "kind": "image", "reason": "no labels"}]


def test_official_layout_without_tag_folder(tmp_path):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS, with_tags=False)
    data = nuswide.read_nuswide(nuswide_dir=root)
    assert data.tag_names == [] and all(item.tags == [] for item in data.items)
    assert all(item.image_path is None for item in data.items)


def test_misaligned_label_file_names_both_files(tmp_path):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS)
    labels = os.path.join(root, "Groundtruth", "TrainTestLabels", "Labels_animal_Train.txt")
    _write(labels, "0\r\n1\r\n")
    message = _raises("has 2 lines but", nuswide.read_nuswide, nuswide_dir=root)
    assert labels in message and os.path.join(root, "ImageList", "TrainImagelist.txt") in message


def test_misaligned_tag_file_names_both_files(tmp_path):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS)
    tags = os.path.join(root, "NUS_WID_Tags", "Test_Tags1k.dat")
    _write(tags, "0 0 0 0\n1 1 1 1\n")
    message = _raises("has 2 lines but", nuswide.read_nuswide, nuswide_dir=root)
    assert tags in message and "TestImagelist.txt" in message


@pytest.mark.parametrize("relative, content, match", [
    ("Groundtruth/TrainTestLabels/Labels_sky_Test.txt", "2\n",
     "line 1 holds a value other than 0 or 1"),
    ("NUS_WID_Tags/Train_Tags1k.dat", "0 0 0 0\n0 0 0\n0 0 0 0\n",
     "line 2 has 3 values, expected 4"),
    ("NUS_WID_Tags/Train_Tags1k.dat", "0 0 0 0\n0 0 0 0\n0 0 0 01\n",
     "line 3 holds a value other"),
    ("ImageList/TestImagelist.txt", "sky\\nophotoid.jpg\r\n",
     "line 1 ('sky\\\\nophotoid.jpg') has no photo id"),
    ("Concepts81.txt", "sky\r\nsky\r\n", "lists 'sky' twice"),
])
def test_malformed_official_files(tmp_path, relative, content, match):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS)
    path = _write(tmp_path / "nus" / relative, content)
    assert path in _raises(match, nuswide.read_nuswide, nuswide_dir=root)


@pytest.mark.parametrize("relative", [
    "Concepts81.txt", "ImageList/TrainImagelist.txt",
    "Groundtruth/TrainTestLabels/Labels_boats_Test.txt", "NUS_WID_Tags/TagList1k.txt",
])
def test_missing_official_file(tmp_path, relative):
    root = make_nuswide(tmp_path / "nus", TRAIN_ROWS, TEST_ROWS)
    os.remove(os.path.join(root, relative))
    message = _raises("not found", nuswide.read_nuswide, nuswide_dir=root)
    assert os.path.join(root, relative) in message


def test_read_binary_matrix_tolerates_blank_tail_and_no_final_newline(tmp_path):
    path = _write(tmp_path / "m.dat", "1\t0 1\r\n0 0\t0\r\n\r\n\n")
    np.testing.assert_array_equal(nuswide.read_binary_matrix(path, 3, "m"), [[1, 0, 1], [0, 0, 0]])
    path = _write(tmp_path / "n.dat", "1\n0")
    np.testing.assert_array_equal(nuswide.read_binary_matrix(path, 1, "n"), [[1], [0]])


def test_read_binary_matrix_in_chunks_of_a_few_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(nuswide, "_CHUNK_BYTES", 7)  # about one line per chunk
    rows = [[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0], [1, 0, 0]]
    path = _write(tmp_path / "m.dat", "".join(" ".join(map(str, row)) + "\r\n" for row in rows))
    np.testing.assert_array_equal(nuswide.read_binary_matrix(path, 3, "m"), rows)
    _write(tmp_path / "m.dat", "1 0 1\n0 1 1\n1 1 1\n0 x 0\n")
    _raises("line 4 holds a value other than 0 or 1", nuswide.read_binary_matrix, path, 3, "m")
    _write(tmp_path / "m.dat", "1 0 1\n0 1 1\n1 1 1\n0 0\n1 1 1\n")
    _raises("line 4 has 2 values, expected 3", nuswide.read_binary_matrix, path, 3, "m")


def test_exactly_one_input(tmp_path):
    _raises("exactly one of", nuswide.read_nuswide)
    _raises("exactly one of", nuswide.read_nuswide, nuswide_dir="a", annotations_json="b")
    _raises("NUS-WIDE folder not found", nuswide.read_nuswide, nuswide_dir=str(tmp_path / "none"))


def test_annotations_json(tmp_path):
    path = _write(tmp_path / "a.json", json.dumps({
        "20": {"file": "20.jpg", "tags1k": ["trip"], "concepts81": ["sky", "animal"]},
        "10": {"file": "10.jpg", "tags1k": [], "concepts81": []},
        "30": {"file": "30.jpg", "concepts81": ["boats"]},
    }))
    data = nuswide.read_nuswide(annotations_json=path, splits={30: "test"})
    assert data.label_names == ["animal", "boats", "sky"] and data.tag_names == ["trip"]
    assert [(i.image_id, i.split, i.labels, i.tags) for i in data.items] == [
        (20, "train", ["animal", "sky"], ["trip"]), (30, "test", ["boats"], [])]
    assert data.skipped == [{"id": 10, "kind": "image", "reason": "no labels"}]
    concepts = _write(tmp_path / "c.txt", _crlf(["sea"]))
    _raises("has concepts81 not in", nuswide.read_nuswide, annotations_json=path,
            concepts_file=concepts)
    broken = _write(tmp_path / "b.json", json.dumps({"1": {"file": "1.jpg"}}))
    _raises("['1'] has no 'concepts81'", nuswide.read_nuswide, annotations_json=broken)


def test_annotations_json_real_mini3(shared_data_dir):
    data = nuswide.read_nuswide(
        annotations_json=str(shared_data_dir / "nuswide_mini3" / "annotations.json"),
        image_dir=str(shared_data_dir / "nuswide_mini3" / "images"),
        concepts_file=str(shared_data_dir / "nuswide" / "Concepts81.txt"),
        tag_list_file=str(shared_data_dir / "nuswide" / "TagList1k.txt"))
    assert len(data.label_names) == 81 and len(data.tag_names) == 1000
    assert [item.image_id for item in data.items] == [48661375, 342635061, 417187631]
    assert data.items[0].labels == ["animal"] and set(data.items[0].tags) == {"bathroom", "guard"}
    assert data.items[2].labels == ["boats", "reflection", "sky", "waterfall"]  # Concepts81 order
    assert all(os.path.isfile(item.image_path) for item in data.items)


# ----------------------------------------------------------------------------- synthetic


def make_synthetic_raw(raw):
    """A hand-made RAW dir in the generator's layout: images 1-4, image 4 captioned only."""
    images = {i: f"synthetic_{i:06d}.jpg" for i in (1, 2, 3, 4)}
    for name in images.values():
        _write(raw / "images" / name, b"x")
    _write(raw / "annotations" / "captions.json", json.dumps({
        "images": [{"id": i, "file_name": n} for i, n in images.items()],
        "annotations": [{"image_id": i, "caption": f"picture {i}"} for i in (1, 2, 4)]
                       + [{"image_id": 3, "caption": "   "}]}))
    _write(raw / "annotations" / "instances.json", json.dumps({
        "images": [{"id": i, "file_name": n} for i, n in images.items()],
        "annotations": [{"image_id": 1, "category_id": 2}, {"image_id": 2, "category_id": 1},
                        {"image_id": 3, "category_id": 1}],
        "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]}))
    _write(raw / "splits" / "val_ids.txt", "2\n")
    _write(raw / "splits" / "test_ids.txt", "3\n")
    rows = [(f"images\\{images[i]}", {"sky"}, {"sea"} if i == 1 else set()) for i in (1, 2, 3)]
    make_nuswide(raw / "nuswide", rows[:2], rows[2:])
    return str(raw)


def test_synthetic_merges_parts_by_image_id(tmp_path):
    raw = make_synthetic_raw(tmp_path / "raw")
    data = synthetic.read_synthetic(raw)
    assert data.label_names == ["circle", "square"] and data.tag_names == TAGS
    assert [(i.image_id, i.split, i.captions, i.labels, i.tags) for i in data.items] == [
        (1, "train", ["picture 1"], ["square"], ["sea"]),
        (2, "val", ["picture 2"], ["circle"], []),
        (3, "test", [], ["circle"], []),  # its only caption was blank
        (4, "train", ["picture 4"], [], []),  # captioned, no labels: kept for captioning
    ]
    assert all(item.image_path == os.path.join(raw, "images", f"synthetic_{item.image_id:06d}.jpg")
               for item in data.items)
    assert all(item.source_id == f"synthetic_{item.image_id:06d}.jpg" for item in data.items)
    assert data.skipped == [{"id": 3, "kind": "caption", "reason": "empty caption"}]


def test_synthetic_missing_parts(tmp_path):
    _raises("synthetic dataset folder not found", synthetic.read_synthetic, str(tmp_path / "none"))
    raw = make_synthetic_raw(tmp_path / "raw")
    os.remove(os.path.join(raw, "splits", "test_ids.txt"))
    _raises("test_ids.txt: split id file not found", synthetic.read_synthetic, raw)
    raw = make_synthetic_raw(tmp_path / "raw2")
    _write(tmp_path / "raw2" / "annotations" / "instances.json", "{")
    _raises("instances.json: COCO instances JSON is not valid JSON", synthetic.read_synthetic, raw)
