"""Decoded validation in the training loop, the best checkpoint it keeps, and --checkpoint."""

import os

import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn import inference
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import decoded_validation
from s_cnn_rnn.training import history as history_lib
from s_cnn_rnn.training import stage_runner
from s_cnn_rnn.training import trainer
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(data_dir, model_dir, task, steps=3, **kwargs):
    model = ModelConfig(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
                        num_concepts=1, vocab_size=4, embedding_dim=16, lstm_units=16, small_cnn_width=8,
                        lstm_activation="relu" if task == "multilabel" else "tanh")
    settings = {
        stage: trainer.StageSettings(stage=stage, train_steps=steps, batch_size=4, learning_rate=3e-3,
                                     optimizer="adam", log_every=1, checkpoint_every=1, validate_every=1,
                                     validation_steps=1)
        for stage in ("cnn", "rnn", "joint")
    }
    options = stage_runner.TrainOptions(stage="all", data_dir=data_dir, model_dir=str(model_dir), task=task,
                                       model=model, stage_settings=settings, validation_decode_examples=6, **kwargs)
    stage_runner.train(options)
    return str(model_dir)


def _best_step(records, metric, lower):
    # Step 0 (what the earlier stages handed over) is recorded but never chosen.
    scored = [(r[metric], r["step"]) for r in records if r.get(metric) is not None and r["step"] > 0]
    best_value = min(v for v, _ in scored) if lower else max(v for v, _ in scored)
    return [step for value, step in scored if value == best_value][-1], best_value  # ties: the later step


@pytest.fixture(scope="module")
def caption_model(tiny_synthetic_data, tmp_path_factory):
    return _train(tiny_synthetic_data, tmp_path_factory.mktemp("decoded") / "caption", "caption")


def test_caption_training_logs_decoded_metrics_and_keeps_the_best_checkpoint(caption_model):
    expected = {"cnn": ("val_loss", True), "rnn": ("val_loss", True), "joint": ("val_CIDEr_pytok", False)}
    for stage, (metric, lower) in expected.items():
        records = history_lib.read_history(os.path.join(caption_model, stage, "history.jsonl"))
        if stage != "rnn":
            assert all("val_concept_O-F1" in r for r in records)
        if stage == "joint":
            for key in ("val_CIDEr_pytok", "val_Bleu_4_pytok", "val_ROUGE_L_pytok", "val_concept_O-F1"):
                assert all(0.0 <= r[key] <= 10.0 for r in records), key
        if stage == "rnn":  # decodes nothing (its input is the ground-truth concepts)
            assert not any(k.endswith("_pytok") or "O-F1" in k for r in records for k in r)
        assert all(r["decoded_validation_cpu_seconds"] <= r["process_cpu_seconds"] for r in records)
        best = decoded_validation.read_best(os.path.join(caption_model, stage))
        step, value = _best_step(records, metric, lower)
        assert best["metric"] == metric and best["step"] == step and best["value"] == pytest.approx(value)
        assert tf.train.latest_checkpoint(os.path.join(caption_model, stage, "best")).endswith(f"ckpt-{step}")


def _restored_kernel(trained):
    return next(v for v in trained.model.weights if "kernel" in v.path).numpy()


def _stored_kernel(path, trained):
    reader = tf.train.load_checkpoint(path)
    target = _restored_kernel(trained)
    for name in reader.get_variable_to_shape_map():
        if name.endswith(".ATTRIBUTES/VARIABLE_VALUE") and reader.get_variable_to_shape_map()[name] == list(
                target.shape) and np.array_equal(reader.get_tensor(name), target):
            return True
    return False


def test_load_trained_model_restores_best_latest_or_a_step(caption_model):
    best = decoded_validation.read_best(os.path.join(caption_model, "joint"))
    for which, expected in (("best", f"best/ckpt-{best['step']}"), ("latest", "checkpoints/ckpt-3"),
                            ("2", "ckpt-2")):
        trained = inference.load_trained_model(caption_model, checkpoint=which)
        assert trained.checkpoints["all"].endswith(expected), which
        assert _stored_kernel(trained.checkpoints["all"], trained)
    with pytest.raises(ValueError, match="--checkpoint must be"):
        inference.load_trained_model(caption_model, checkpoint="newest")
    with pytest.raises(FileNotFoundError, match="no checkpoint of step 99"):
        inference.load_trained_model(caption_model, checkpoint="99")


def test_best_checkpoint_is_chosen_by_the_metric_and_restored(tmp_path):
    value = tf.Variable(0.0)
    checkpoint = tf.train.Checkpoint(value=value)
    for metric, series, expected_step in (("val_O-F1", [0.2, 0.5, 0.4, 0.5, 0.3], 4), ("val_loss", [3.0, 1.0, 2.0], 2)):
        keeper = decoded_validation.BestCheckpoint(checkpoint, str(tmp_path / metric), metric)
        for step, score in enumerate(series, start=1):
            value.assign(float(step))
            keeper.update(step, {metric: score})
        best = decoded_validation.read_best(str(tmp_path / metric))
        assert (best["step"], best["metric"]) == (expected_step, metric)
        assert len(tf.io.gfile.glob(str(tmp_path / metric / "best" / "*.index"))) == 1
        checkpoint.read(tf.train.latest_checkpoint(str(tmp_path / metric / "best")))
        assert float(value.numpy()) == expected_step
    # A resumed stage keeps the best so far: a worse value does not replace it.
    keeper = decoded_validation.BestCheckpoint(checkpoint, str(tmp_path / "val_loss"), "val_loss")
    assert not keeper.update(9, {"val_loss": 5.0}) and keeper.update(10, {"val_loss": 0.5})


def test_multilabel_joint_stage_scores_decoded_labels(tiny_synthetic_data, tmp_path):
    model_dir = _train(tiny_synthetic_data, tmp_path / "labels", "multilabel", steps=2,
                       best_checkpoint_metric="val_C-F1")
    records = history_lib.read_history(os.path.join(model_dir, "joint", "history.jsonl"))
    assert all(0.0 <= r["val_O-F1"] <= 100.0 and "val_C-F1" in r for r in records)
    assert decoded_validation.read_best(os.path.join(model_dir, "joint"))["metric"] == "val_C-F1"
    # A stage without that key falls back to its own default.
    assert decoded_validation.read_best(os.path.join(model_dir, "cnn"))["metric"] == "val_concept_O-F1"


def test_inference_commands_take_checkpoint_with_best_as_default():
    for module in ("s_cnn_rnn.evaluate", "s_cnn_rnn.predict", "s_cnn_rnn.export"):
        shown = cli_runner.run(module, "--helpshort", cwd=PROJECT_ROOT)
        text = shown.stdout + shown.stderr
        assert "--checkpoint" in text and "(default: 'best')" in text, module


def test_without_decoding_the_best_checkpoint_follows_the_validation_loss(tiny_synthetic_data, tmp_path):
    model = ModelConfig(variant="cnn_logistic", backbone="small_cnn", backbone_weights="none", image_size=32,
                        num_concepts=1, vocab_size=4, small_cnn_width=8)
    settings = {"cnn": trainer.StageSettings(stage="cnn", train_steps=2, batch_size=4, learning_rate=3e-3,
                                             optimizer="adam", log_every=1, validate_every=1, validation_steps=1)}
    stage_runner.train(stage_runner.TrainOptions(stage="all", data_dir=tiny_synthetic_data, model_dir=str(tmp_path),
                                               task="multilabel", model=model, stage_settings=settings))
    records = history_lib.read_history(os.path.join(tmp_path, "cnn", "history.jsonl"))
    assert not any("O-F1" in key for record in records for key in record)
    best = decoded_validation.read_best(os.path.join(tmp_path, "cnn"))
    assert (best["metric"], best["step"]) == ("val_loss", _best_step(records, "val_loss", True)[0])


def test_python_tokenizer_can_be_requested_even_where_java_is(monkeypatch):
    from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

    def no_java(_):
        raise AssertionError("the Java PTB tokenizer must not run")

    monkeypatch.setattr(caption_scores, "find_java", lambda: "/usr/bin/java")
    monkeypatch.setattr(caption_scores, "_ptb_tokenize", no_java)
    scores = caption_scores.score_captions({1: ["A dog runs.", "a dog running"]}, {1: "a dog runs"},
                                           metrics=("Bleu", "CIDEr"), python_tokenizer=True)
    assert scores["Bleu_1"] > 0.5 and "Python tokenizer was requested" in scores["unavailable"]["PTBTokenizer"]
