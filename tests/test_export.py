"""s-cnn-rnn-export: the SavedModel runs alone (fresh process, saved_model_cli) and matches the Annotator."""

import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import serving_fixtures
from s_cnn_rnn import inference
from s_cnn_rnn.serving import export_lib
from s_cnn_rnn import model_dir as model_dir_lib
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_RECORDS = 3
NOT_AN_IMAGE = b"certainly not an image"

# Runs in a fresh interpreter that can import tensorflow and nothing of this project (-I:
# no cwd, no PYTHONPATH). argv: request.json, results.pkl.
SERVE_SCRIPT = r"""
import json, pickle, sys
import tensorflow as tf

def run(signature, **inputs):
    return {key: value.numpy() for key, value in signature(**inputs).items()}

def error_of(signature, **inputs):
    try:
        signature(**inputs)
    except tf.errors.InvalidArgumentError as error:
        return error.message
    return None

request = json.load(open(sys.argv[1]))
results = {}
for name, job in request.items():
    signatures = tf.saved_model.load(job["export_dir"]).signatures
    images = [open(path, "rb").read() for path in job["images"]]
    records = [open(path, "rb").read() for path in job["records"]]
    extra = {"tags": tf.constant(job["tags"], tf.float32)} if "tags" in job else {}
    pair = {"tags": tf.constant(job["tags"][:2], tf.float32)} if "tags" in job else {}
    results[name] = {
        "signature_keys": sorted(signatures.keys()),
        "serving_default": run(signatures["serving_default"], image_bytes=tf.constant(images), **extra),
        "tf_example": run(signatures["tf_example"], examples=tf.constant(records)),
        "not_an_image": error_of(signatures["serving_default"],
                                 image_bytes=tf.constant([images[0], job["not_an_image"].encode()]), **pair),
        "truncated": error_of(signatures["serving_default"],
                              image_bytes=tf.constant([images[0], images[0][: len(images[0]) // 2]]), **pair),
        "empty": run(signatures["serving_default"], image_bytes=tf.zeros([0], tf.string),
                     **({"tags": tf.zeros([0, len(job["tags"][0])])} if "tags" in job else {})),
        "record_without_image": error_of(signatures["tf_example"],
                                         examples=tf.constant([records[0], tf.train.Example().SerializeToString()])),
    }
results["project_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("s_cnn_rnn", "data_prep"))
pickle.dump(results, open(sys.argv[2], "wb"))
"""


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inputs(tiny_synthetic_data, tmp_path_factory) -> dict:
    """Files for the requests: JPEGs from the test records, a PNG, the serialized records."""
    folder = tmp_path_factory.mktemp("export_inputs")
    records = serving_fixtures.record_images(tiny_synthetic_data, count=NUM_RECORDS)
    images, record_paths = [], []
    for index, record in enumerate(records):
        images.append(folder / f"image{index}.jpg")
        images[-1].write_bytes(record["jpeg"])
        record_paths.append(folder / f"record{index}.bin")
        record_paths[-1].write_bytes(record["serialized"])
    png = folder / "image.png"
    png.write_bytes(serving_fixtures.png_bytes(records[0]["jpeg"]))
    return {"images": [str(path) for path in images + [png]], "records": [str(path) for path in record_paths],
            "tag_indices": [record["tag_indices"] for record in records]}


@pytest.fixture(scope="module")
def model_dirs(tiny_caption_model_dir, tiny_multilabel_model_dir, tiny_synthetic_data, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("export_models")
    return {
        "caption": tiny_caption_model_dir,
        "multilabel": tiny_multilabel_model_dir,
        # Untrained (random) weights are enough to compare the SavedModel with the Annotator.
        "tags": serving_fixtures.make_model_dir(tiny_synthetic_data, str(folder / "tags"), "multilabel", use_tags=True),
        "logistic": serving_fixtures.make_model_dir(tiny_synthetic_data, str(folder / "logistic"), "multilabel",
                                                    variant="cnn_logistic"),
    }


@pytest.fixture(scope="module")
def exports(model_dirs, tmp_path_factory) -> dict:
    """Every model exported: the multi-label one through the command line, the others by the library."""
    folder = tmp_path_factory.mktemp("exports")
    dirs = {name: str(folder / name) for name in model_dirs}
    for name, model_dir in model_dirs.items():
        if name != "multilabel":
            export_lib.export_saved_model(model_dir, dirs[name])
    cli = cli_runner.run("s_cnn_rnn.export", f"--model_dir={model_dirs['multilabel']}",
                         f"--export_dir={dirs['multilabel']}", cwd=PROJECT_ROOT)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert json.loads(cli.stdout)["export_dir"] == dirs["multilabel"]
    return dirs


@pytest.fixture(scope="module")
def served(exports, inputs, tmp_path_factory) -> dict:
    """The exports run in a fresh interpreter that imports only tensorflow."""
    folder = tmp_path_factory.mktemp("served")
    request = {}
    for name, export_dir in exports.items():
        request[name] = {"export_dir": export_dir, "images": inputs["images"], "records": inputs["records"],
                         "not_an_image": NOT_AN_IMAGE.decode()}
        if name == "tags":
            request[name]["tags"] = _record_tags(inputs, export_dir).tolist()
    (folder / "request.json").write_text(json.dumps(request))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    completed = subprocess.run(
        [sys.executable, "-I", "-c", SERVE_SCRIPT, str(folder / "request.json"), str(folder / "results.pkl")],
        cwd=str(folder), env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(folder / "results.pkl", "rb") as handle:
        return pickle.load(handle)


def _num_tags(export_dir: str) -> int:
    with open(os.path.join(export_dir, "assets.extra", "model_info.json"), encoding="utf-8") as handle:
        return json.load(handle)["vocabulary_sizes"]["tags"]


def _record_tags(inputs: dict, export_dir: str) -> np.ndarray:
    """The records' tags as multi-hot rows, one per request image (the PNG reuses record 0's)."""
    tag_indices = inputs["tag_indices"] + [inputs["tag_indices"][0]]
    return serving_fixtures.tags_multi_hot(tag_indices, _num_tags(export_dir))


# ----------------------------------------------------------------------------- the reference


def _decoded(strings: np.ndarray) -> list:
    return [[value.decode() for value in row] for row in strings]


def _assert_labels_match(outputs: dict, reference: dict, trained) -> None:
    expected = inference.label_lists(reference, trained.vocabularies)
    labels, scores = _decoded(outputs["labels"]), outputs["label_scores"]
    assert outputs["num_labels"].tolist() == [len(row) for row in expected]
    for row, label_row, score_row in zip(expected, labels, scores):
        count = len(row)
        assert label_row[:count] == [label for label, _ in row]
        assert all(label == "" for label in label_row[count:])
        np.testing.assert_allclose(score_row[:count], [score for _, score in row], rtol=0, atol=1e-5)
        assert not score_row[count:].any()
    np.testing.assert_allclose(outputs["concept_probs"], reference["concept_probs"], rtol=0, atol=1e-5)


def _assert_captions_match(outputs: dict, reference: dict, trained) -> None:
    expected = inference.caption_lists(reference, trained.vocabularies)
    for row, captions, log_probs in zip(expected, _decoded(outputs["captions"]), outputs["log_probs"]):
        real = np.isfinite(log_probs)
        assert [caption for caption, is_real in zip(captions, real) if is_real] == [text for text, _ in row]
        assert all(caption == "" for caption, is_real in zip(captions, real) if not is_real)
        np.testing.assert_allclose(log_probs[real], [score for _, score in row], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(outputs["concept_probs"], reference["concept_probs"], rtol=0, atol=1e-5)


def _assert_same_outputs(first: dict, second: dict) -> None:
    assert sorted(first) == sorted(second)
    for key, value in first.items():
        if value.dtype == object:
            assert value.tolist() == second[key].tolist(), key
        else:
            np.testing.assert_allclose(value, second[key], rtol=0, atol=1e-5, err_msg=key)


# ----------------------------------------------------------------------------- tests


def test_fresh_process_needs_nothing_from_the_project(served):
    assert served["project_modules"] == []
    for name in ("caption", "multilabel", "tags", "logistic"):
        assert {"serving_default", "tf_example"} <= set(served[name]["signature_keys"])


def test_caption_export_matches_the_annotator(served, model_dirs, inputs):
    outputs = served["caption"]["serving_default"]
    assert outputs["captions"].shape == (len(inputs["images"]), 3)
    assert outputs["captions"][0, 0]  # the best beam is a real caption
    reference, trained = serving_fixtures.annotator_reference(model_dirs["caption"], inputs["images"])
    _assert_captions_match(outputs, reference, trained)


def test_multilabel_export_matches_the_annotator(served, model_dirs, inputs):
    outputs = served["multilabel"]["serving_default"]
    assert set(outputs) == {"labels", "label_scores", "num_labels", "concept_probs", "top_concepts",
                            "top_concept_probs"}
    reference, trained = serving_fixtures.annotator_reference(model_dirs["multilabel"], inputs["images"])
    _assert_labels_match(outputs, reference, trained)


def test_tag_model_takes_tags(served, model_dirs, inputs, exports):
    outputs = served["tags"]["serving_default"]
    tags = _record_tags(inputs, exports["tags"])
    reference, trained = serving_fixtures.annotator_reference(model_dirs["tags"], inputs["images"], tags=tags)
    _assert_labels_match(outputs, reference, trained)
    untagged, _ = serving_fixtures.annotator_reference(model_dirs["tags"], inputs["images"], tags=np.zeros_like(tags))
    assert not np.allclose(untagged["concept_probs"], outputs["concept_probs"], atol=1e-4)  # the tags count


def test_fixed_length_model_reports_its_top_three_labels(served, model_dirs, inputs):
    outputs = served["logistic"]["serving_default"]
    reference, trained = serving_fixtures.annotator_reference(model_dirs["logistic"], inputs["images"])
    labels = trained.vocabularies.labels.tokens
    assert outputs["num_labels"].tolist() == [3] * len(inputs["images"])
    assert _decoded(outputs["labels"]) == [[labels[i] for i in row] for row in reference["top_k_indices"]]
    np.testing.assert_allclose(outputs["label_scores"], reference["top_k_probs"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["caption", "tags"])
def test_an_empty_request_gets_empty_outputs(served, name):
    full, empty = served[name]["serving_default"], served[name]["empty"]
    assert sorted(empty) == sorted(full)
    for key, value in empty.items():
        assert value.shape == (0,) + full[key].shape[1:], key


@pytest.mark.parametrize("name", ["caption", "multilabel", "tags"])
def test_tf_example_signature_gives_the_same(served, name):
    by_bytes = {key: value[:NUM_RECORDS] for key, value in served[name]["serving_default"].items()}
    _assert_same_outputs(served[name]["tf_example"], by_bytes)


@pytest.mark.parametrize("name", ["caption", "tags"])
def test_bad_bytes_are_an_invalid_argument_error(served, name):
    message = served[name]["not_an_image"]
    assert message is not None
    assert f"image_bytes[1] is not a JPEG, PNG, GIF, BMP or WebP image ({len(NOT_AN_IMAGE)} bytes" in message
    assert served[name]["truncated"] is not None and "JPEG" in served[name]["truncated"]
    assert "examples[1] image/encoded is not a JPEG" in served[name]["record_without_image"]


def test_saved_model_cli_show_and_run(exports, inputs, model_dirs, tmp_path):
    def cli(*args):
        # In this process: the console script's module run as `python -m` runs it (tests/cli_runner.py).
        # That the exports need nothing of the project is the fresh `-I` serving process's check.
        completed = cli_runner.run("tensorflow.python.tools.saved_model_cli", *args)
        assert completed.returncode == 0, completed.stderr[-3000:]
        return completed.stdout

    shown = cli("show", "--dir", exports["tags"], "--all")
    for expected in ("signature_def['serving_default']", "inputs['image_bytes']", "inputs['tags']",
                     "signature_def['tf_example']", "inputs['examples']", "outputs['labels']"):
        assert expected in shown
    with open(inputs["images"][0], "rb") as handle:
        np.save(tmp_path / "image_bytes.npy", np.array([handle.read()], dtype=object), allow_pickle=True)
    ran = cli("run", "--dir", exports["caption"], "--tag_set", "serve", "--signature_def", "serving_default",
              "--inputs", f"image_bytes={tmp_path / 'image_bytes.npy'}")
    reference, trained = serving_fixtures.annotator_reference(model_dirs["caption"], inputs["images"][:1])
    best_caption = inference.caption_lists(reference, trained.vocabularies)[0][0][0]
    assert "Result for output key captions" in ran
    assert repr(best_caption.encode()) in ran


def test_model_info_and_config_are_stored(exports, model_dirs):
    extra = os.path.join(exports["caption"], "assets.extra")
    with open(os.path.join(extra, "model_info.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    trained = inference.load_trained_model(model_dirs["caption"])
    assert info["task"] == "caption"
    assert info["vocabulary_sizes"]["words"] == len(trained.vocabularies.words)
    assert info["decoding"] == {"method": "beam_search", "beam_width": 3, "max_length": 20, "length_normalization": 0.0}
    assert sorted(info["signatures"]["serving_default"]["inputs"]) == ["image_bytes"]
    assert sorted(info["signatures"]["serving_default"]["outputs"]) == [
        "captions", "concept_probs", "log_probs", "top_concept_probs", "top_concepts"]
    with open(os.path.join(extra, "model_config.json"), encoding="utf-8") as handle:
        assert json.load(handle) == model_dir_lib.load_config(model_dirs["caption"])
    assert os.path.isfile(os.path.join(extra, "vocab", "words.txt"))
    with open(os.path.join(exports["tags"], "assets.extra", "model_info.json"), encoding="utf-8") as handle:
        assert "tags" in json.load(handle)["signatures"]["serving_default"]["inputs"]


def test_each_weight_is_stored_once(exports, model_dirs):
    reader = tf.train.load_checkpoint(os.path.join(exports["caption"], "variables", "variables"))
    shapes = reader.get_variable_to_shape_map()
    stored = sum(int(np.prod(shape)) for name, shape in shapes.items() if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored == inference.load_trained_model(model_dirs["caption"]).model.count_params()


def test_existing_export_dir_is_refused_then_replaced_atomically(model_dirs, tmp_path, monkeypatch):
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "keep.txt").write_text("old")
    for overwrite in (False, True):  # not an export: never replaced, even with overwrite
        with pytest.raises(export_lib.ExportDirExistsError, match="not a SavedModel export.*even with --overwrite"):
            export_lib.export_saved_model(model_dirs["logistic"], str(export_dir), overwrite=overwrite)
    assert (export_dir / "keep.txt").read_text() == "old"
    shutil.rmtree(export_dir)
    export_lib.export_saved_model(model_dirs["logistic"], str(export_dir))
    with pytest.raises(export_lib.ExportDirExistsError, match="already exists .a SavedModel export.; pass --overwrite"):
        export_lib.export_saved_model(model_dirs["logistic"], str(export_dir))
    first = (export_dir / "assets.extra" / "model_info.json").read_text()

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(export_lib, "_write_archive", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            export_lib.export_saved_model(model_dirs["logistic"], str(export_dir), overwrite=True)
    assert (export_dir / "assets.extra" / "model_info.json").read_text() == first  # a failed export leaves the old one
    assert os.listdir(tmp_path) == ["export"]  # and no temporary dir

    info = export_lib.export_saved_model(model_dirs["logistic"], str(export_dir), overwrite=True)
    assert info["export_dir"] == str(export_dir)
    assert (export_dir / "saved_model.pb").is_file()
    assert os.listdir(tmp_path) == ["export"]


def test_cli_refuses_an_existing_dir(exports, model_dirs):
    completed = cli_runner.run("s_cnn_rnn.export", f"--model_dir={model_dirs['caption']}",
                               f"--export_dir={exports['caption']}", cwd=PROJECT_ROOT)
    assert completed.returncode == 2
    assert "already exists" in completed.stderr and "--overwrite" in completed.stderr
