"""Tests for the TFDS coco_captions reader.

A real prepared dataset is made by TFDS itself from a tiny fake COCO 2014 download (4 JPEGs,
the Karpathy split file, instances files): only the download manager is replaced, so the
files on disk are exactly what `tfds build coco_captions` writes. About 5 s on 2 cores.
"""

import json
import os
from unittest import mock

import pytest
from PIL import Image

from data_prep.sources import tfds_coco
from data_prep.sources.base import AnnotationError

tfds = pytest.importorskip("tensorflow_datasets")

# image id -> (COCO image set, Karpathy split)
FAKE_IMAGES = {1: ("train2014", "train"), 3: ("val2014", "restval"), 4: ("val2014", "val"),
               5: ("val2014", "test")}


def _file_name(image_id: int) -> str:
    return f"COCO_{FAKE_IMAGES[image_id][0]}_{image_id:012d}.jpg"


def _fake_download(root) -> dict[str, str]:
    """Writes the extracted-download layout TFDS's coco_captions builder reads."""
    categories = [{"id": i + 1, "name": f"category{i}"} for i in range(80)]  # TFDS wants 80
    for image_set in ("train2014", "val2014"):
        ids = [i for i, (s, _) in FAKE_IMAGES.items() if s == image_set]
        instances = {
            "images": [{"id": i, "file_name": _file_name(i), "height": 6, "width": 8} for i in ids],
            "annotations": [{"id": 100 + i, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 2],
                             "area": 4.0, "iscrowd": 0} for i in ids],
            "categories": categories,
        }
        annotation_file = root / "annotations" / "annotations" / f"instances_{image_set}.json"
        annotation_file.parent.mkdir(parents=True, exist_ok=True)
        annotation_file.write_text(json.dumps(instances))
        for i in ids:
            image_file = root / f"{image_set}_images" / image_set / _file_name(i)
            image_file.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 6), (40 * i, 10, 200)).save(image_file, "JPEG")
    karpathy = {"images": [
        {"split": split, "filename": _file_name(i),
         "sentences": [{"sentid": 10 * i, "raw": f"caf\u00e9 number {i}"},
                       {"sentid": 10 * i + 1, "raw": "   " if i == 4 else f"another {i}"}]}
        for i, (_, split) in FAKE_IMAGES.items()]}
    (root / "karpathy").mkdir(parents=True)
    (root / "karpathy" / "dataset_coco.json").write_text(json.dumps(karpathy))
    return {"karpathy_and_li_splits": str(root / "karpathy"),
            "train_images": str(root / "train2014_images"),
            "validation_images": str(root / "val2014_images")}


@pytest.fixture(scope="module")
def prepared_data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_coco_download")
    paths = _fake_download(root)

    def download_and_extract(self, urls):
        del self  # the fake stands in for a bound method
        return {key: paths.get(key, str(root / "annotations") if key.endswith("_annotations")
                               else str(root / "unused")) for key in urls}

    data_dir = str(tmp_path_factory.mktemp("tfds_data"))
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                           download_and_extract):
        builder = tfds.builder("coco_captions", data_dir=data_dir, try_gcs=False)
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return data_dir, root


def test_missing_data_dir_explains_how_to_prepare(tmp_path):
    with pytest.raises(AnnotationError, match="TFDS data dir not found.*tfds build coco_captions"):
        tfds_coco.read_tfds_coco_captions(str(tmp_path / "absent"), str(tmp_path / "images"))
    with pytest.raises(AnnotationError, match="no prepared coco_captions.*never downloads"):
        tfds_coco.read_tfds_coco_captions(str(tmp_path), str(tmp_path / "images"))
    assert not (tmp_path / "images").exists()  # failed before any work


def test_missing_shard_is_reported(prepared_data_dir, tmp_path):
    data_dir, _ = prepared_data_dir
    builder = tfds_coco.load_prepared_builder(data_dir)
    shard = os.fspath(builder.info.splits["test"].filepaths[0])
    os.rename(shard, shard + ".moved")
    try:
        with pytest.raises(AnnotationError, match="shard file missing"):
            tfds_coco.read_tfds_coco_captions(data_dir, str(tmp_path / "images"))
    finally:
        os.rename(shard + ".moved", shard)


def test_reads_karpathy_splits_and_writes_images(prepared_data_dir, tmp_path):
    data_dir, download_root = prepared_data_dir
    out_dir = tmp_path / "images"
    data = tfds_coco.read_tfds_coco_captions(data_dir, str(out_dir))
    assert [(i.image_id, i.split) for i in data.items] == [
        (1, "train"), (3, "train"), (4, "val"), (5, "test")]  # restval trains
    four = data.items[2]
    assert four.captions == ["caf\u00e9 number 4"]
    assert data.skipped == [{"id": 4, "kind": "caption", "reason": "empty caption"}]
    for item in data.items:
        assert item.source_id == _file_name(item.image_id)
        assert item.image_path == str(out_dir / _file_name(item.image_id))
        image_set = FAKE_IMAGES[item.image_id][0]
        original = download_root / f"{image_set}_images" / image_set / _file_name(item.image_id)
        with open(item.image_path, "rb") as written:
            assert written.read() == original.read_bytes()  # the JPEG bytes, unchanged
    assert sorted(os.listdir(out_dir)) == sorted(_file_name(i) for i in FAKE_IMAGES)
