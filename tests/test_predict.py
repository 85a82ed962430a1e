"""s-cnn-rnn-predict: labels / captions for image files, bad files reported, same as the Annotator."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import serving_fixtures
from s_cnn_rnn import inference
from s_cnn_rnn.serving import image_input
from s_cnn_rnn.serving import predict_lib
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def files(tiny_synthetic_data, tmp_path_factory) -> dict:
    """Three JPEGs from the test records, a PNG, a truncated JPEG, a text file and a missing path."""
    folder = tmp_path_factory.mktemp("predict_files")
    records = serving_fixtures.record_images(tiny_synthetic_data, count=3)
    jpegs = []
    for index, record in enumerate(records):
        jpegs.append(str(folder / f"photo{index}.jpg"))
        with open(jpegs[-1], "wb") as handle:
            handle.write(record["jpeg"])
    png = folder / "drawing.png"
    png.write_bytes(serving_fixtures.png_bytes(records[1]["jpeg"]))
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(records[0]["jpeg"][: len(records[0]["jpeg"]) // 2])
    text = folder / "notes.txt"
    text.write_text("not an image at all\n")
    return {"jpegs": jpegs, "png": str(png), "bad": [str(corrupt), str(text), str(folder / "missing.jpg")],
            "folder": str(folder), "tag_indices": [record["tag_indices"] for record in records]}


def _mixed(files: dict) -> list[str]:
    """Good and bad files interleaved: photo0, corrupt, photo1, notes, drawing.png, missing, photo2."""
    jpegs, bad = files["jpegs"], files["bad"]
    return [jpegs[0], bad[0], jpegs[1], bad[1], files["png"], bad[2], jpegs[2]]


def _good(files: dict) -> list[str]:
    return files["jpegs"] + [files["png"]]


def _expected_labels(model_dir: str, paths: list[str], tags=None) -> list:
    reference, trained = serving_fixtures.annotator_reference(model_dir, paths, tags=tags)
    return inference.label_lists(reference, trained.vocabularies)


def _expected_captions(model_dir: str, paths: list[str]) -> list:
    reference, trained = serving_fixtures.annotator_reference(model_dir, paths)
    return inference.caption_lists(reference, trained.vocabularies)


def _assert_scored_lists_equal(actual: list, expected: list) -> None:
    assert [text for text, _ in actual] == [text for text, _ in expected]
    np.testing.assert_allclose([score for _, score in actual], [score for _, score in expected], rtol=1e-6, atol=1e-5)


def _run_cli(*args) -> cli_runner.Completed:
    return cli_runner.run("s_cnn_rnn.predict", *args, cwd=PROJECT_ROOT)


# ----------------------------------------------------------------------------- library


def test_images_are_preprocessed_as_evaluation_does(tiny_multilabel_model_dir, files, shared_data_dir):
    """Predict and the export share `image_input`: it must give evaluation's exact pixels."""
    coco = sorted(str(path) for path in (shared_data_dir / "coco_mini12" / "images").glob("*.jpg"))[0]
    paths = [files["jpegs"][0], files["png"], coco]  # the PNG and COCO images are not square
    predictor = predict_lib.Predictor(tiny_multilabel_model_dir)
    config = predictor.trained.config
    encoded = []
    for path in paths:
        with open(path, "rb") as handle:
            encoded.append(handle.read())
    expected = np.stack([serving_fixtures.evaluation_view(data, config).numpy() for data in encoded])
    batch = image_input.images_from_bytes(encoded, config.resolved_image_size, config.preprocessing_mode).numpy()
    # Up to float rounding (1 ulp): a traced graph may rewrite x / 127.5 as a multiplication.
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.stack([predictor.read_image(path) for path in paths]), expected, rtol=0, atol=1e-6)
    caffe = image_input.images_from_bytes(encoded, config.resolved_image_size, "caffe")
    caffe_config = dataclasses.replace(config, preprocessing="caffe")
    expected_caffe = np.stack([serving_fixtures.evaluation_view(data, caffe_config).numpy() for data in encoded])
    np.testing.assert_allclose(caffe.numpy(), expected_caffe, rtol=0, atol=1e-4)  # a model's own scaling is kept
    assert not np.allclose(caffe.numpy(), expected, atol=1.0)
    squashed = tf.image.resize(tf.io.decode_png(encoded[1], channels=3), [config.resolved_image_size] * 2)
    assert not np.allclose(expected[1], squashed.numpy() / 127.5 - 1.0, atol=0.05)  # the crop matters


def test_predictor_reports_bad_files_and_annotates_the_rest(tiny_multilabel_model_dir, files):
    predictor = predict_lib.Predictor(tiny_multilabel_model_dir, batch_size=2)  # several batches
    predictions = predictor.predict_files(_mixed(files))
    assert [p.path for p in predictions] == _mixed(files)
    failed = {p.path: p.error for p in predictions if p.error is not None}
    assert sorted(failed) == sorted(files["bad"])
    assert all(error.startswith("not a readable image (") for error in failed.values())
    assert "No such file" in failed[files["bad"][2]]
    good = [p for p in predictions if p.error is None]
    assert [p.path for p in good] == [files["jpegs"][0], files["jpegs"][1], files["png"], files["jpegs"][2]]
    expected = _expected_labels(tiny_multilabel_model_dir, [p.path for p in good])
    for prediction, labels in zip(good, expected):
        _assert_scored_lists_equal(prediction.labels, labels)
        assert prediction.captions is None and len(prediction.concepts) == 3


def test_predictor_on_real_coco_jpegs(tiny_caption_model_dir, shared_data_dir):
    paths = sorted(str(path) for path in (shared_data_dir / "coco_mini12" / "images").glob("*.jpg"))[:2]
    predictions = predict_lib.Predictor(tiny_caption_model_dir).predict_files(paths)
    for prediction, captions in zip(predictions, _expected_captions(tiny_caption_model_dir, paths)):
        assert prediction.error is None
        _assert_scored_lists_equal(prediction.captions, captions)


def test_predictor_passes_tags_to_a_tag_model(tiny_synthetic_data, files, tmp_path):
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tmp_path / "tags"), "multilabel",
                                                use_tags=True)
    predictor = predict_lib.Predictor(model_dir)
    tag_tokens = predictor.tag_vocabulary.tokens
    tags_by_path = {
        os.path.basename(path): [tag_tokens[i] for i in indices] + ["not-a-known-tag"]
        for path, indices in zip(files["jpegs"], files["tag_indices"])
    }
    predictions = predictor.predict_files(files["jpegs"], tags_by_path)
    rows = serving_fixtures.tags_multi_hot(files["tag_indices"], len(tag_tokens))
    for prediction, labels in zip(predictions, _expected_labels(model_dir, files["jpegs"], tags=rows)):
        _assert_scored_lists_equal(prediction.labels, labels)
    untagged = predictor.predict_files(files["jpegs"][:1])[0]
    assert untagged.concepts != predictions[0].concepts  # the tags reached the model


def test_tags_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "tags.json"
    bad.write_text('{"a.jpg": "dog"}')
    with pytest.raises(ValueError, match="tags.json must hold"):
        predict_lib.load_tags_file(str(bad))
    with pytest.raises(ValueError, match="cannot read the tags file"):
        predict_lib.load_tags_file(str(tmp_path / "absent.json"))


# ----------------------------------------------------------------------------- command line


def test_cli_text_captions_with_bad_files(tiny_caption_model_dir, files):
    completed = _run_cli(f"--model_dir={tiny_caption_model_dir}", *_mixed(files))
    assert completed.returncode == 1, completed.stderr[-3000:]
    error_lines = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(files["bad"])
    for path in files["bad"]:
        assert any(line.startswith(f"error: {path}: not a readable image (") for line in error_lines)
    expected = _expected_captions(tiny_caption_model_dir, _good(files))
    blocks = {}
    for line in completed.stdout.splitlines():
        if not line.startswith("  "):
            blocks[line] = []
        else:
            score, caption = line.strip().split("  ", 1)
            blocks[list(blocks)[-1]].append((caption, float(score)))
    assert list(blocks) == [path for path in _mixed(files) if path not in files["bad"]]
    for path, captions in zip(_good(files), expected):
        assert [caption for caption, _ in blocks[path]] == [caption for caption, _ in captions]
        np.testing.assert_allclose([s for _, s in blocks[path]], [s for _, s in captions], atol=1e-4)


def test_cli_json_labels_with_bad_files(tiny_multilabel_model_dir, files):
    completed = _run_cli(f"--model_dir={tiny_multilabel_model_dir}", "--json", "--batch_size=2",
                         f"--images={os.path.join(files['folder'], 'photo*.jpg')}", "--images=/nonexistent/*.png",
                         files["png"], *files["bad"])
    assert completed.returncode == 1, completed.stderr[-3000:]
    entries = [json.loads(line) for line in completed.stdout.splitlines()]
    # Positional files first, then each pattern's matches; a pattern matching nothing is an error too.
    order = [files["png"], *files["bad"], *files["jpegs"], "/nonexistent/*.png"]
    assert [entry["image"] for entry in entries] == order
    for entry in entries[1:4]:
        assert entry["error"].startswith("not a readable image (") and "labels" not in entry
        assert f"error: {entry['image']}: {entry['error']}" in completed.stderr
    assert entries[-1]["error"] == "no file matches this --images pattern"
    good = [entries[0]] + entries[4:-1]
    expected = _expected_labels(tiny_multilabel_model_dir, [entry["image"] for entry in good])
    for entry, labels in zip(good, expected):
        actual = [(item["label"], item["probability"]) for item in entry["labels"]]
        _assert_scored_lists_equal(actual, labels)
        assert len(entry["concepts"]) == 3


def test_cli_all_good_files_exit_zero(tiny_multilabel_model_dir, files):
    completed = _run_cli(f"--model_dir={tiny_multilabel_model_dir}", *_good(files))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert [line for line in completed.stdout.splitlines() if not line.startswith("  ")] == _good(files)
