"""`s-cnn-rnn-evaluate --concepts=ground_truth`: decoding from the ground-truth concepts (the oracle).

The bridge reads each image's ground-truth concept multi-hot in place of the CNN's probabilities;
everything else (beam search, scoring, outputs) is the normal evaluation's.
"""

import json
import os

import numpy as np
import pytest

from s_cnn_rnn import decode_options
from s_cnn_rnn import errors
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.evaluation import decode_split
from s_cnn_rnn.evaluation import outputs
from s_cnn_rnn.models.config import ModelConfig
from tests.test_evaluate import _run_cli

DECODED_KEYS = ("token_ids", "lengths", "log_probs")


@pytest.fixture(scope="module")
def caption_batch(tiny_synthetic_data, tiny_caption_model_dir):
    """The tiny caption model and the first 8 test images (images, tags, ground-truth concepts)."""
    trained = inference.load_trained_model(tiny_caption_model_dir)
    dataset = input_pipeline.make_dataset(tiny_synthetic_data, "test", decode_split.pipeline_config(trained, 8))
    batch = next(iter(dataset))
    return trained, batch["image"], batch["tags"], batch["concepts"]


def test_ground_truth_concepts_decode_as_a_cnn_that_predicted_them(caption_batch, monkeypatch):
    trained, images, tags, truth = caption_batch
    annotator = inference.Annotator(trained)
    predicted = {key: np.asarray(value) for key, value in annotator(images, tags).items()}
    oracle = {key: np.asarray(value) for key, value in annotator(images, tags, concepts=truth).items()}
    assert not np.allclose(predicted["concept_probs"], np.asarray(truth))  # the batch where they differ
    # The beams move with the bridge input (the CNN's own outputs stay the CNN's).
    assert not np.array_equal(oracle["token_ids"], predicted["token_ids"])
    assert not np.allclose(oracle["log_probs"], predicted["log_probs"])
    np.testing.assert_array_equal(oracle["concept_probs"], predicted["concept_probs"])
    # Exactly what the same model decodes when its CNN is forced to output the ground truth.
    unary = trained.model.unary

    def forced_unary(*args, **kwargs):
        return dict(unary(*args, **kwargs), concept_probs=truth)

    monkeypatch.setattr(trained.model, "unary", forced_unary)
    forced = {key: np.asarray(value) for key, value in inference.Annotator(trained)(images, tags).items()}
    for key in DECODED_KEYS:
        np.testing.assert_array_equal(oracle[key], forced[key], err_msg=key)


def test_decode_split_passes_the_batch_concepts(caption_batch, tiny_synthetic_data):
    trained, images, tags, truth = caption_batch
    decoded = decode_split.decode_split(trained, tiny_synthetic_data, "test", batch_size=5, max_images=8,
                                        show_progress=False, concepts="ground_truth")
    direct = inference.Annotator(trained)(images, tags, concepts=truth)  # one batch of 8, no padding
    np.testing.assert_array_equal(decoded["token_ids"], np.asarray(direct["token_ids"]))
    np.testing.assert_array_equal(decoded["lengths"], np.asarray(direct["lengths"]))
    # Batches of 5 and 8 run different matmul shapes, so the float sums may round differently (seen: 8e-6).
    np.testing.assert_allclose(decoded["log_probs"], np.asarray(direct["log_probs"]), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(decoded["truth"], np.asarray(truth))


def test_cli_writes_oracle_metrics_in_their_own_folder(tiny_synthetic_data, tiny_caption_model_dir, tmp_path):
    completed = _run_cli(f"--model_dir={tiny_caption_model_dir}", f"--data_dir={tiny_synthetic_data}",
                         f"--output_dir={tmp_path}", "--concepts=ground_truth", "--max_images=4",
                         "--batch_size=4", "--noprogress", without_java=True)
    assert completed.returncode == 0, completed.stderr
    assert "GROUND-TRUTH concepts" in completed.stdout
    folder = tmp_path / "ground_truth_concepts" / "max_images-4"
    assert str(folder) == outputs.results_dir(str(tmp_path), 4, "ground_truth")
    summary = json.loads((folder / outputs.METRICS_FILE).read_text(encoding="utf-8"))
    assert summary["concept_source"] == "ground_truth" and summary["num_images"] == 4
    assert not (tmp_path / outputs.METRICS_FILE).exists() and not (tmp_path / "max_images-4").exists()


def test_results_dir_keeps_predicted_evaluations_where_they_were():
    assert outputs.results_dir("/e", None) == "/e" == outputs.results_dir("/e", None, "predicted")
    assert outputs.results_dir("/e", None, "ground_truth") == os.path.join("/e", "ground_truth_concepts")


def test_cli_refuses_a_model_whose_bridge_reads_features(tiny_synthetic_data, tmp_path):
    config = ModelConfig(variant="nic_deeply", backbone="small_cnn", backbone_weights="none", image_size=32)
    model_dir_lib.save_config(str(tmp_path), dict(config.to_dict(), task="caption"))
    completed = _run_cli(f"--model_dir={tmp_path}", f"--data_dir={tiny_synthetic_data}", "--concepts=ground_truth")
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--concepts=ground_truth" in lines[0] and "'nic_deeply'" in lines[0], lines
    assert not (tmp_path / "eval_test").exists()


@pytest.mark.parametrize("variant", ["nic_f", "nic_deeply", "ria", "cnn_logistic"])
def test_only_concept_bridges_take_ground_truth(variant):
    decode_options.check_concept_source("predicted", variant)
    decode_options.check_concept_source("ground_truth", "s_cnn_rnn")
    with pytest.raises(errors.OptionError, match=f"--concepts=ground_truth: variant '{variant}'"):
        decode_options.check_concept_source("ground_truth", variant)
    with pytest.raises(errors.OptionError, match="concepts"):
        decode_options.DecodeOptions(concepts="oracle")
