"""Tests of the built-in synthetic dataset generator (data_prep/synthetic)."""

import collections
import glob
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from data_prep import synthetic
from data_prep.synthetic import catalogue
from data_prep.synthetic import generator
from data_prep.synthetic import writers

SIZE = 48
SPLIT = {"num_train": 80, "num_val": 20, "num_test": 20}


def _tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def _crlf_lines(path):
    with open(path, "rb") as stream:
        data = stream.read()
    assert data.endswith(b"\r\n"), f"{path} must end with CRLF"
    assert data.count(b"\n") == data.count(b"\r\n"), f"{path} must use CRLF line ends only"
    return data.decode("ascii").split("\r\n")[:-1]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """A small dataset shared by the format tests: (raw_dir, summary)."""
    raw_dir = str(tmp_path_factory.mktemp("synthetic") / "raw")
    summary = synthetic.generate(raw_dir, image_size=SIZE, seed=7, num_workers=1, **SPLIT)
    return raw_dir, summary


@pytest.fixture(scope="module")
def sampled_labels():
    """Labels of 3,000 sampled layouts (no drawing)."""
    return [synthetic.sample_labels(0, image_id) for image_id in range(1, 3001)]


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    small = {"num_train": 40, "num_val": 10, "num_test": 10, "image_size": SIZE}
    one = synthetic.generate(str(tmp_path / "a"), seed=3, num_workers=1, **small)
    two = synthetic.generate(str(tmp_path / "b"), seed=3, num_workers=2, **small)
    other = synthetic.generate(str(tmp_path / "c"), seed=4, num_workers=1, **small)
    assert one["label_frequency"] == two["label_frequency"]
    files = ["annotations/captions.json", "annotations/instances.json",
             "nuswide/NUS_WID_Tags/Train_Tags1k.dat", "README.txt"]
    files += [f"images/synthetic_{i:06d}.jpg" for i in (1, 17, 60)]
    for name in files:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
    for name in files[:2] + files[4:]:
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_layout_files_exist(raw):
    raw_dir, summary = raw
    total = sum(SPLIT.values())
    assert summary["num_images"] == total
    images = sorted(os.listdir(os.path.join(raw_dir, "images")))
    assert images == [f"synthetic_{i:06d}.jpg" for i in range(1, total + 1)]
    with Image.open(os.path.join(raw_dir, "images", images[0])) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (SIZE, SIZE))
    readme = open(os.path.join(raw_dir, "README.txt"), encoding="ascii").read()
    assert "seed: 7" in readme and f"generator version: {catalogue.GENERATOR_VERSION}" in readme
    assert not glob.glob(raw_dir + ".tmp-*")


def test_captions_json_is_coco_with_five_distinct_captions_per_image(raw):
    raw_dir, _ = raw
    data = json.load(open(os.path.join(raw_dir, "annotations", "captions.json")))
    assert list(data) == ["info", "licenses", "type", "images", "annotations"]
    assert data["type"] == "captions" and data["licenses"] == []
    assert data["images"][0] == {"id": 1, "file_name": "synthetic_000001.jpg", "width": SIZE,
                                 "height": SIZE}
    per_image = collections.defaultdict(list)
    for annotation in data["annotations"]:
        assert set(annotation) == {"id", "image_id", "caption"}
        per_image[annotation["image_id"]].append(annotation["caption"])
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    assert sorted(per_image) == [image["id"] for image in data["images"]]
    for captions in per_image.values():
        assert len(captions) == 5 and len(set(captions)) == 5
        for caption in captions:
            assert 6 <= len(_tokens(caption)) <= 16, caption


def test_instances_json_is_consistent(raw):
    raw_dir, summary = raw
    data = json.load(open(os.path.join(raw_dir, "annotations", "instances.json")))
    assert [c["name"] for c in data["categories"]] == list(catalogue.LABEL_NAMES)
    assert [c["id"] for c in data["categories"]] == list(range(1, len(catalogue.LABEL_NAMES) + 1))
    image_ids = {image["id"] for image in data["images"]}
    labelled = set()
    for annotation in data["annotations"]:
        assert annotation["image_id"] in image_ids
        assert 1 <= annotation["category_id"] <= len(catalogue.LABEL_NAMES)
        x, y, w, h = annotation["bbox"]
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= SIZE and y + h <= SIZE
        assert 0 < annotation["area"] <= w * h and annotation["iscrowd"] == 0
        labelled.add(annotation["image_id"])
    assert len(labelled) == len(image_ids) - summary["images_without_labels"]
    assert len(labelled) >= 0.95 * len(image_ids)
    assert summary["num_instances"] == len(data["annotations"])


def test_splits_files(raw):
    raw_dir, _ = raw
    val = [int(x) for x in open(os.path.join(raw_dir, "splits", "val_ids.txt")).read().split()]
    test = [int(x) for x in open(os.path.join(raw_dir, "splits", "test_ids.txt")).read().split()]
    assert len(val) == SPLIT["num_val"] and len(test) == SPLIT["num_test"]
    assert not set(val) & set(test)
    assert max(val + test) == sum(SPLIT.values()) and min(val + test) > SPLIT["num_train"]


def test_nuswide_files_are_aligned_and_match_the_instances(raw):
    raw_dir, _ = raw
    nus = os.path.join(raw_dir, "nuswide")
    assert _crlf_lines(os.path.join(nus, "Concepts81.txt")) == list(catalogue.LABEL_NAMES)
    tag_list = _crlf_lines(os.path.join(nus, "NUS_WID_Tags", "TagList1k.txt"))
    assert len(tag_list) == len(set(tag_list)) == 1000
    all_images = _crlf_lines(os.path.join(nus, "ImageList", "Imagelist.txt"))
    assert all_images[0] == "images\\synthetic_000001.jpg"
    assert len(all_images) == sum(SPLIT.values())
    instances = json.load(open(os.path.join(raw_dir, "annotations", "instances.json")))
    names = {c["id"]: c["name"] for c in instances["categories"]}
    truth = collections.defaultdict(set)
    for annotation in instances["annotations"]:
        truth[annotation["image_id"]].add(names[annotation["category_id"]])
    for part, count in (("Train", SPLIT["num_train"] + SPLIT["num_val"]),
                        ("Test", SPLIT["num_test"])):
        entries = _crlf_lines(os.path.join(nus, "ImageList", f"{part}Imagelist.txt"))
        assert len(entries) == count and all(e.startswith("images\\synthetic_") for e in entries)
        ids = [int(e.rsplit("_", 1)[1].split(".")[0]) for e in entries]
        for name in catalogue.LABEL_NAMES:
            path = os.path.join(nus, "Groundtruth", "TrainTestLabels", f"Labels_{name}_{part}.txt")
            bits = _crlf_lines(path)
            assert bits == ["1" if name in truth[i] else "0" for i in ids], path
        rows = _crlf_lines(os.path.join(nus, "NUS_WID_Tags", f"{part}_Tags1k.dat"))
        assert len(rows) == count
        matrix = np.array([row.split("\t") for row in rows], dtype=np.int64)
        assert matrix.shape == (count, 1000) and set(np.unique(matrix)) <= {0, 1}
        assert matrix.sum(axis=1).min() >= 0 and matrix.sum() > count  # some tags per image


def test_label_sampling_is_long_tailed(sampled_labels):
    counts = collections.Counter(label for labels in sampled_labels for label in labels)
    frequency = {label: counts[label] / len(sampled_labels) for label in catalogue.LABEL_NAMES}
    assert len(catalogue.LABEL_NAMES) >= 30
    assert all(re.fullmatch(r"[a-z]+", name) for name in catalogue.LABEL_NAMES)
    assert min(frequency.values()) > 0, "every label occurs"
    assert sum(f < 0.02 for f in frequency.values()) >= 3
    assert 2 <= sum(f > 0.30 for f in frequency.values()) <= 8


def test_labels_co_occur(sampled_labels):
    def p(label, given=None):
        pool = [s for s in sampled_labels if given is None or given in s]
        return sum(label in s for s in pool) / len(pool)

    assert p("road", "car") > 0.95 and p("road") < 0.4
    assert p("water", "boat") == 1.0 and p("water") < 0.3
    assert all({"dog", "person"} & s for s in sampled_labels if "ball" in s)
    assert p("table", "cup") > 0.95
    assert p("sky", "television") == 0.0


def test_captions_mention_the_labels(raw):
    raw_dir, _ = raw
    captions = json.load(open(os.path.join(raw_dir, "annotations", "captions.json")))
    instances = json.load(open(os.path.join(raw_dir, "annotations", "instances.json")))
    names = {c["id"]: c["name"] for c in instances["categories"]}
    truth = collections.defaultdict(set)
    for annotation in instances["annotations"]:
        truth[annotation["image_id"]].add(names[annotation["category_id"]])
    words = collections.defaultdict(set)
    for annotation in captions["annotations"]:
        words[annotation["image_id"]].update(_tokens(annotation["caption"]))
    mentioned = [len(truth[i] & words[i]) / len(truth[i]) for i in truth]
    assert np.mean(mentioned) > 0.4
    assert sum(m > 0 for m in mentioned) >= 0.95 * len(mentioned)
    all_words = set().union(*words.values())
    assert {"two", "three"} & all_words and {"red", "blue", "white"} & all_words
    assert {"next", "near", "beside", "riding", "front"} & all_words
    assert {"puppy", "man", "woman", "vehicle", "bike", "ship"} & all_words


def test_tags_are_noisy(raw):
    raw_dir, _ = raw
    nus = os.path.join(raw_dir, "nuswide")
    tag_list = _crlf_lines(os.path.join(nus, "NUS_WID_Tags", "TagList1k.txt"))
    rows = _crlf_lines(os.path.join(nus, "NUS_WID_Tags", "Train_Tags1k.dat"))
    entries = _crlf_lines(os.path.join(nus, "ImageList", "TrainImagelist.txt"))
    labels = {name: _crlf_lines(os.path.join(nus, "Groundtruth", "TrainTestLabels",
                                             f"Labels_{name}_Train.txt"))
              for name in catalogue.LABEL_NAMES}
    kept = present = spurious = 0
    for row_index, row in enumerate(rows):
        tags = {tag_list[i] for i, bit in enumerate(row.split("\t")) if bit == "1"}
        true = {n for n in catalogue.LABEL_NAMES if labels[n][row_index] == "1"}
        present += len(true)
        kept += len(true & tags)
        spurious += len((tags & set(catalogue.LABEL_NAMES)) - true)
    assert len(rows) == len(entries)
    assert 0.2 < kept / present < 0.8, "label tags are dropped at some rate"
    assert spurious > 0, "some label tags are wrong"


def test_refuses_a_non_empty_raw_dir(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        synthetic.generate(str(tmp_path), num_train=4, num_val=0, num_test=0, image_size=SIZE)
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_accepts_an_empty_raw_dir(tmp_path):
    raw_dir = tmp_path / "empty"
    raw_dir.mkdir()
    synthetic.generate(str(raw_dir), num_train=3, num_val=1, num_test=1, image_size=SIZE)
    assert len(os.listdir(raw_dir / "images")) == 5


def test_a_failure_leaves_no_partial_directory(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writers, "write_nuswide", broken)
    raw_dir = tmp_path / "raw"
    with pytest.raises(OSError, match="disk full"):
        synthetic.generate(str(raw_dir), num_train=6, num_val=2, num_test=2, image_size=SIZE,
                           num_workers=1)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("arguments", [{"image_size": 8}, {"num_train": 0}, {"seed": -1},
                                       {"num_val": 1.5}])
def test_rejects_bad_arguments(tmp_path, arguments):
    kwargs = {"num_train": 2, "num_val": 1, "num_test": 1, "image_size": SIZE, **arguments}
    with pytest.raises(ValueError):
        synthetic.generate(str(tmp_path / "raw"), **kwargs)
    assert not (tmp_path / "raw").exists()


def test_real_reader_reads_it_unchanged(raw):
    # The other side of the contract: the real reader must accept the files as written.
    from data_prep.sources import synthetic as reader  # pylint: disable=import-outside-toplevel

    raw_dir, _ = raw
    data = reader.read_synthetic(raw_dir)
    assert len(data.items) == sum(SPLIT.values()) and not data.skipped
    assert data.label_names == list(catalogue.LABEL_NAMES)
    assert len(data.tag_names) == 1000
    assert collections.Counter(item.split for item in data.items) == {
        "train": SPLIT["num_train"], "val": SPLIT["num_val"], "test": SPLIT["num_test"]}
    assert all(len(item.captions) == 5 and item.labels for item in data.items)


def test_default_sizes_match_the_signature():
    assert generator.DEFAULT_SIZES == {"num_train": 3000, "num_val": 500, "num_test": 500,
                                       "image_size": 96}
