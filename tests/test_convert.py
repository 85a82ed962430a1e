"""End-to-end tests of the converter: round trip, bad inputs, atomic output, real data."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_prep import convert_lib
from data_prep import shard_writer
from data_prep.sources.base import AnnotationError
from s_cnn_rnn import record_schema
from s_cnn_rnn import tokenizer
from s_cnn_rnn.vocabulary import Vocabularies
from tests import cli_runner


def _jpeg_bytes(seed: int, size=(40, 32), mode="RGB", fmt="JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _read_records(output_dir: str, split: str) -> list[dict]:
    with open(os.path.join(output_dir, record_schema.MANIFEST_FILE), encoding="utf-8") as handle:
        manifest = json.load(handle)
    parsed = []
    for shard in manifest["splits"][split]["shards"]:
        for record in tf.data.TFRecordDataset(os.path.join(output_dir, shard)):
            example = tf.io.parse_single_example(record, record_schema.parsing_spec())
            parsed.append(
                {
                    key: (tf.sparse.to_dense(value).numpy() if isinstance(value, tf.SparseTensor) else value.numpy())
                    for key, value in example.items()
                }
            )
    return parsed


@pytest.fixture
def messy_coco(tmp_path):
    """A COCO-caption dataset with one image of every kind of bad input."""
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    good = {1: _jpeg_bytes(1), 2: _jpeg_bytes(2), 3: _jpeg_bytes(3), 4: _jpeg_bytes(4)}
    files = {
        "good1.jpg": good[1],
        "good2.jpg": good[2],
        "good3.jpg": good[3],
        "good4.jpg": good[4],
        "truncated.jpg": _jpeg_bytes(5)[:200],
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + b"garbage" * 50,
        "empty.jpg": b"",
        "png.jpg": _jpeg_bytes(6, fmt="PNG"),
        "cmyk.jpg": _jpeg_bytes(7, mode="CMYK"),
        "nocaption.jpg": _jpeg_bytes(8),
        "badutf8.jpg": _jpeg_bytes(9),
    }
    for name, payload in files.items():
        (image_dir / name).write_bytes(payload)
    names = list(files) + ["missing.jpg"]
    images = [{"id": index + 1, "file_name": name} for index, name in enumerate(names)]
    captions = {
        1: ["A red car on the road.", "a car parked near a tree"],
        2: ["Two dogs play with a ball"],
        3: ["a boat on the water", "the boat is blue"],
        4: ["a tree in a park"],
        5: ["a truncated picture"],
        6: ["a corrupt picture"],
        7: ["an empty file"],
        8: ["a png in disguise"],
        9: ["a cmyk picture"],
        11: ["BADUTF8"],
        12: ["a missing file"],
    }
    annotations = [
        {"id": 100 * image_id + n, "image_id": image_id, "caption": text}
        for image_id, texts in captions.items()
        for n, text in enumerate(texts)
    ]
    text = json.dumps({"images": images, "annotations": annotations})
    raw = text.encode("utf-8").replace(b"BADUTF8", b"caf\xe9 latte")
    (tmp_path / "captions.json").write_bytes(raw)
    (tmp_path / "test_ids.txt").write_text("4\n")
    return tmp_path


def _convert(tmp_path, source_dir, **kwargs):
    options = convert_lib.ConvertOptions(
        dataset="coco_captions",
        output_dir=str(tmp_path / "out"),
        captions_json=[str(source_dir / "captions.json")],
        image_dirs=[str(source_dir / "images")],
        splits=f"test:{source_dir / 'test_ids.txt'}",
        num_workers=0,
        show_progress=False,
        num_concepts=5,
    )
    for key, value in kwargs.items():
        setattr(options, key, value)
    return convert_lib.convert(options)


def test_bad_inputs_are_skipped_with_reasons_and_good_ones_kept(tmp_path, messy_coco):
    manifest = _convert(tmp_path, messy_coco)
    skipped = {(entry["id"], entry["kind"]): entry["reason"] for entry in manifest["skipped"]}
    # Every bad image is listed with a reason naming what was wrong.
    for image_id in (5, 6, 7, 12):
        assert (image_id, "image") in skipped, manifest["skipped"]
    assert "missing" in skipped[(12, "image")]
    assert "empty" in skipped[(7, "image")]
    assert (10, "image") in skipped and "caption" in skipped[(10, "image")]
    assert (11, "caption") in skipped and "UTF-8" in skipped[(11, "caption")]
    # PNG and CMYK under .jpg names are re-encoded and kept; ids 1-3 + 8, 9 in train, 4 in test.
    train = _read_records(str(tmp_path / "out"), "train")
    assert sorted(r[record_schema.IMAGE_ID] for r in train) == [1, 2, 3, 8, 9]
    assert manifest["splits"]["test"]["num_examples"] == 1
    for record in train:
        image = tf.io.decode_jpeg(record[record_schema.IMAGE_ENCODED])
        assert image.shape == (32, 40, 3)
        assert (record[record_schema.IMAGE_HEIGHT], record[record_schema.IMAGE_WIDTH]) == (32, 40)
    summary = convert_lib.summary_line(manifest)
    assert "skipped" in summary and "train 5" in summary and "test 1" in summary


def test_round_trip_fields_equal_their_source(tmp_path, messy_coco):
    _convert(tmp_path, messy_coco)
    output_dir = str(tmp_path / "out")
    vocabularies = Vocabularies.load(output_dir)
    source = json.loads((messy_coco / "captions.json").read_bytes().decode("utf-8", "replace"))
    captions_of = {}
    for annotation in source["annotations"]:
        captions_of.setdefault(annotation["image_id"], []).append(annotation["caption"])
    original_bytes = (messy_coco / "images" / "good1.jpg").read_bytes()
    for record in _read_records(output_dir, "train") + _read_records(output_dir, "test"):
        image_id = int(record[record_schema.IMAGE_ID])
        texts = [t.decode("utf-8") for t in record[record_schema.CAPTION_TEXT]]
        assert texts == captions_of[image_id]
        lengths = record[record_schema.CAPTION_LENGTHS]
        ids = record[record_schema.CAPTION_TOKEN_IDS]
        assert lengths.sum() == len(ids)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        for n, text in enumerate(texts):
            assert list(ids[offsets[n] : offsets[n + 1]]) == vocabularies.words.encode(tokenizer.tokenize(text))
        words = {w for t in texts for w in tokenizer.tokenize(t)}
        expected_concepts = sorted(
            i for i, concept in enumerate(vocabularies.concepts.tokens) if concept in words
        )
        assert list(record[record_schema.CONCEPT_INDICES]) == expected_concepts
        if image_id == 1:  # an RGB JPEG is kept byte for byte
            assert record[record_schema.IMAGE_ENCODED] == original_bytes
    # The test-only word "tree" of image 4 counts only if it is also in train: it is (image 1).
    assert vocabularies.words.id_of("latte") == record_schema.UNK_ID  # its caption was dropped


def test_existing_output_needs_overwrite(tmp_path, messy_coco):
    _convert(tmp_path, messy_coco)
    with pytest.raises(convert_lib.ConversionError, match="--overwrite"):
        _convert(tmp_path, messy_coco)
    manifest = _convert(tmp_path, messy_coco, overwrite=True)
    assert manifest["splits"]["train"]["num_examples"] == 5
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p or ".old-" in p]


def test_interrupted_run_leaves_no_partial_output(tmp_path, messy_coco, monkeypatch):
    from data_prep import example_encoder

    calls = {"n": 0}
    real_encode = example_encoder.encode_item

    def encode_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(example_encoder, "encode_item", encode_then_die)
    with pytest.raises(KeyboardInterrupt):
        _convert(tmp_path, messy_coco)
    assert not (tmp_path / "out").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("out")]


def test_missing_annotation_file_is_a_clear_error_before_work(tmp_path):
    options = convert_lib.ConvertOptions(
        dataset="coco_captions",
        output_dir=str(tmp_path / "out"),
        captions_json=[str(tmp_path / "nope.json")],
        num_workers=0,
        show_progress=False,
    )
    with pytest.raises(AnnotationError, match="nope.json"):
        convert_lib.convert(options)
    assert not (tmp_path / "out").exists()


def test_cli_converts_synthetic_in_parallel(tmp_path):
    output_dir = tmp_path / "synth"
    command = [
        "data_prep.convert", "--dataset=synthetic", f"--output_dir={output_dir}",
        "--synthetic_num_train=40", "--synthetic_num_val=8", "--synthetic_num_test=8",
        "--synthetic_image_size=48", "--num_workers=2", "--examples_per_shard=16", "--noprogress",
    ]
    completed = cli_runner.run(*command)
    assert completed.returncode == 0, completed.stderr
    assert "converted 56 images" in completed.stdout
    manifest = json.loads((output_dir / "manifest.json").read_text())
    assert {name: info["num_examples"] for name, info in manifest["splits"].items()} == {
        "train": 40, "val": 8, "test": 8,
    }
    assert len(manifest["splits"]["train"]["shards"]) == 3
    records = _read_records(str(output_dir), "val")
    assert all(len(r[record_schema.LABEL_SEQUENCE]) > 0 for r in records)
    assert all(len(r[record_schema.CAPTION_LENGTHS]) == 5 for r in records)
    # Label sequences are rare-first: ascending indices into the rare-first labels.txt.
    assert all(list(r[record_schema.LABEL_SEQUENCE]) == sorted(r[record_schema.LABEL_SEQUENCE]) for r in records)
    assert sum(len(r[record_schema.TAG_INDICES]) for r in records) > 0
    again = cli_runner.run(*command)
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_a_small_conversion_writes_its_shards_without_workers_unless_asked(tmp_path, monkeypatch):
    """By default a pool starts only from `MIN_IMAGES_FOR_WORKERS` images: each worker first imports
    TensorFlow, which costs more than writing a few hundred images; an explicit --num_workers wins."""
    assert shard_writer.worker_count(None, shard_writer.MIN_IMAGES_FOR_WORKERS - 1) == 0
    assert shard_writer.worker_count(None, shard_writer.MIN_IMAGES_FOR_WORKERS) == (os.cpu_count() or 1)
    assert shard_writer.worker_count(3, 10) == 3 and shard_writer.worker_count(0, 10**6) == 0

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for 12 images")

    monkeypatch.setattr(shard_writer.concurrent.futures, "ProcessPoolExecutor", no_pool)
    options = convert_lib.ConvertOptions(dataset="synthetic", output_dir=str(tmp_path / "synth"),
                                         synthetic_num_train=8, synthetic_num_val=2, synthetic_num_test=2,
                                         synthetic_image_size=32, show_progress=False)
    assert options.num_workers is None
    convert_lib.convert(options)
    manifest = json.loads((tmp_path / "synth" / "manifest.json").read_text())
    assert sum(info["num_examples"] for info in manifest["splits"].values()) == 12


def test_real_coco_mini12_and_nuswide_mini3(tmp_path, shared_data_dir):
    coco_dir = shared_data_dir / "coco_mini12"
    # All 12 are val2014 images (test by the SPEC D3 default): list two as test, the rest train.
    (tmp_path / "test_ids.txt").write_text("27440\n33645\n")
    manifest = convert_lib.convert(
        convert_lib.ConvertOptions(
            dataset="coco_multilabel",
            output_dir=str(tmp_path / "coco"),
            labels_json=str(coco_dir / "labels80.json"),
            captions_json=[str(coco_dir / "captions.json")],
            image_dirs=[str(coco_dir / "images")],
            splits=f"test:{tmp_path / 'test_ids.txt'}",
            num_workers=0,
            show_progress=False,
        )
    )
    assert manifest["splits"]["test"]["num_examples"] == 2
    # Image 336777 has no label and is skipped (SPEC D2 rule applied to COCO); 11 remain.
    assert sum(info["num_examples"] for info in manifest["splits"].values()) == 11
    assert [e["id"] for e in manifest["skipped"]] == [336777]
    records = _read_records(str(tmp_path / "coco"), "train")
    assert all(len(r[record_schema.CAPTION_LENGTHS]) == 5 and r[record_schema.IMAGE_ENCODED] for r in records)
    nus_dir = shared_data_dir / "nuswide_mini3"
    manifest = convert_lib.convert(
        convert_lib.ConvertOptions(
            dataset="nuswide",
            output_dir=str(tmp_path / "nus"),
            nuswide_annotations_json=str(nus_dir / "annotations.json"),
            concepts_file=str(shared_data_dir / "nuswide" / "Concepts81.txt"),
            tag_list_file=str(shared_data_dir / "nuswide" / "TagList1k.txt"),
            image_dirs=[str(nus_dir / "images")],
            num_workers=0,
            show_progress=False,
        )
    )
    assert manifest["splits"]["train"]["num_examples"] == 3
    vocabularies = Vocabularies.load(str(tmp_path / "nus"))
    assert len(vocabularies.labels) == 81 and len(vocabularies.tags) == 1000
    records = {int(r[record_schema.IMAGE_ID]): r for r in _read_records(str(tmp_path / "nus"), "train")}
    boats = records[417187631]
    assert sorted(vocabularies.labels.tokens[i] for i in boats[record_schema.LABEL_SEQUENCE]) == [
        "boats", "reflection", "sky", "waterfall",
    ]
