"""The three training stages on tiny synthetic data: hand-off, resume, learning, errors."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn import errors
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import history as history_lib
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.training import stage_runner
from s_cnn_rnn.training import stages
from s_cnn_rnn.training import trainer

TINY_MODEL = ModelConfig(
    variant="s_cnn_rnn",
    backbone="small_cnn",
    backbone_weights="none",
    image_size=32,
    num_concepts=1,
    vocab_size=4,
    embedding_dim=16,
    lstm_units=16,
    small_cnn_width=8,
)


def _options(data_dir, model_dir, stage="all", steps=(2, 2, 2), task="caption", **kwargs) -> stage_runner.TrainOptions:
    model = kwargs.pop("model", TINY_MODEL)
    settings = {
        name: trainer.StageSettings(
            stage=name, train_steps=count, batch_size=4, learning_rate=1e-3, optimizer="adam",
            log_every=1, checkpoint_every=kwargs.pop(f"{name}_checkpoint_every", 100), validate_every=2,
            validation_steps=1, head_steps=1 if name == "cnn" else 0,
        )
        for name, count in zip(("cnn", "rnn", "joint"), steps)
    }
    return stage_runner.TrainOptions(
        stage=stage, data_dir=data_dir, model_dir=str(model_dir), task=task, model=model,
        stage_settings=settings, **kwargs,
    )


def _weights(layer) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for v in layer.weights]


def test_all_stages_run_and_write_history_and_checkpoints(tiny_synthetic_data, tmp_path):
    results = stage_runner.train(_options(tiny_synthetic_data, tmp_path / "model"))
    assert set(results) == {"cnn", "rnn", "joint"}
    for stage, terms in (("cnn", {"L_u"}), ("rnn", {"L_r"}), ("joint", {"L_u", "L_r"})):
        records = history_lib.read_history(str(tmp_path / "model" / stage / "history.jsonl"))
        last = 3 if stage == "cnn" else 2  # the cnn stage's head-only step comes first
        assert [r["step"] for r in records] == list(range(1, last + 1))
        for record in records:
            assert terms <= set(record) and np.isfinite(record["loss"])
            assert record["loss"] == pytest.approx(sum(record[t] for t in terms), rel=1e-5)
        assert "val_loss" in records[-1]
        assert tf.train.latest_checkpoint(str(tmp_path / "model" / stage / "checkpoints")).endswith(f"-{last}")
    assert json.loads((tmp_path / "model" / "model_config.json").read_text())["task"] == "caption"
    summary = (tmp_path / "model" / "model_summary.txt").read_text(encoding="utf-8")
    assert all(name in summary for name in ("unary_model (Functional)", "teacher_forcing (Functional)",
                                            "concept_layer (Dense)", "lstm_cell (LSTMCell)"))
    # A rerun does not retrain finished stages.
    again = stage_runner.train(_options(tiny_synthetic_data, tmp_path / "model"))
    assert all(record.get("skipped") for record in again.values())


def test_validation_traces_its_step_once_a_stage(tiny_synthetic_data, tmp_path, monkeypatch):
    """Validation batches differ in caption length and size: the step is traced once a stage, for the data's
    spec (a trace per new shape would be two a stage, and TensorFlow warns of retracing from the fifth)."""
    shapes = []

    def recording(stage, model, batch, training):
        if not training and not tf.executing_eagerly():  # a trace of the validation step
            shapes.append(tuple(batch["target_ids"].shape))
        return per_example_losses(stage, model, batch, training)

    per_example_losses = stages.per_example_losses
    monkeypatch.setattr(stages, "per_example_losses", recording)
    options = _options(tiny_synthetic_data, tmp_path / "model", stage="rnn")
    rnn = dataclasses.replace(options.stage_settings["rnn"], train_steps=3, validate_every=1, validation_steps=3)
    stage_runner.train(dataclasses.replace(options, stage_settings=dict(options.stage_settings, rnn=rnn)))
    history = history_lib.read_history(str(tmp_path / "model" / "rnn" / "history.jsonl"))
    assert [record["step"] for record in history if "val_L_r" in record] == [1, 2, 3]
    assert shapes == [(None, None)]  # one trace, for any batch size and caption length


def test_joint_stage_starts_from_the_cnn_and_rnn_checkpoints(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="rnn"))
    options = _options(tiny_synthetic_data, model_dir, stage="joint")
    config = stage_runner.complete_model_config(options)

    def restored(items_of):
        model = builder.build_model(config)
        stage = "cnn" if items_of == "cnn_checkpoint_items" else "rnn"
        path = tf.train.latest_checkpoint(str(model_dir / stage / "checkpoints"))
        tf.train.Checkpoint(**getattr(model, items_of)()).read(path).expect_partial()
        return model

    expected_cnn = restored("cnn_checkpoint_items").concept_cnn
    expected_decoder = restored("decoder_checkpoint_items").decoder
    model = builder.build_model(config)
    fresh_cnn = _weights(model.concept_cnn)
    stage_runner._initializer(options, model, "joint")()  # pylint: disable=protected-access
    for got, want, before in zip(_weights(model.concept_cnn), _weights(expected_cnn), fresh_cnn):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(_weights(model.concept_cnn), fresh_cnn))
    for got, want in zip(_weights(model.decoder), _weights(expected_decoder)):
        np.testing.assert_array_equal(got, want)


def test_joint_without_previous_stages_is_a_clear_error(tiny_synthetic_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="--stage=cnn"):
        stage_runner.train(_options(tiny_synthetic_data, tmp_path / "model", stage="joint"))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_synthetic_data, tmp_path):
    def final_weights(model_dir, steps_in_runs):
        for steps in steps_in_runs:  # plus one head-only step first
            stage_runner.train(
                _options(tiny_synthetic_data, model_dir, stage="cnn", steps=(steps, 1, 1), deterministic=True,
                         cnn_checkpoint_every=2, seed=3)
            )
        reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir / "cnn" / "checkpoints")))
        names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("concept_cnn/"))
        return {n: reader.get_tensor(n) for n in names}

    interrupted = final_weights(tmp_path / "a", [2, 4])
    uninterrupted = final_weights(tmp_path / "b", [4])
    assert interrupted.keys() == uninterrupted.keys() and interrupted
    for name in interrupted:
        np.testing.assert_array_equal(interrupted[name], uninterrupted[name], err_msg=name)
    history = history_lib.read_history(str(tmp_path / "a" / "cnn" / "history.jsonl"))
    assert [r["step"] for r in history] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("stage,term", [("cnn", "L_u"), ("rnn", "L_r"), ("joint", "L_r")])
def test_each_loss_can_be_driven_near_zero_on_one_fixed_batch(tiny_synthetic_data, tmp_path, stage, term):
    options = _options(tiny_synthetic_data, tmp_path / "model", stage=stage)
    config = stage_runner.complete_model_config(options)
    model = builder.build_model(config)
    pipeline = input_pipeline.PipelineConfig(
        task="caption", batch_size=4, image_size=32, preprocessing="tf", training=False,
        read_images=stage != "rnn", deterministic=True,
    )
    fixed = input_pipeline.make_dataset(tiny_synthetic_data, "train", pipeline).take(1).cache().repeat()
    settings = trainer.StageSettings(
        stage=stage, train_steps=300, batch_size=4, learning_rate=1e-2, optimizer="adam",
        log_every=10, checkpoint_every=1000, validate_every=0,
    )
    stage_trainer = trainer.StageTrainer(model, tf.distribute.get_strategy(), settings,
                                         str(tmp_path / stage), lambda start: fixed)
    final = stage_trainer.run()
    first = history_lib.read_history(str(tmp_path / stage / "history.jsonl"))[0]
    assert first["step"] == 10 and final["step"] == 300
    assert final[term] < 0.1 * first[term], (first, final)


@pytest.mark.parametrize("poisoned_from", [3, 0])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_synthetic_data, tmp_path, poisoned_from):
    options = _options(tiny_synthetic_data, tmp_path / "model", stage="cnn")
    model = builder.build_model(stage_runner.complete_model_config(options))
    pipeline = input_pipeline.PipelineConfig(
        task="caption", batch_size=4, image_size=32, preprocessing="tf", training=True
    )
    good = input_pipeline.make_dataset(tiny_synthetic_data, "train", pipeline)
    poisoned = good.enumerate().map(
        lambda index, batch: dict(batch, image=tf.where(index >= poisoned_from, np.nan, batch["image"]))
    )
    settings = trainer.StageSettings(stage="cnn", train_steps=6, batch_size=4, log_every=1, checkpoint_every=1,
                                     validate_every=0)
    stage_trainer = trainer.StageTrainer(model, tf.distribute.get_strategy(), settings, str(tmp_path / "cnn"),
                                         lambda start: poisoned)
    with pytest.raises(trainer.NonFiniteLossError, match=f"non-finite at step {poisoned_from + 1}") as error:
        stage_trainer.run()
    checkpoints = str(tmp_path / "cnn" / "checkpoints")
    if poisoned_from:
        assert f"step {poisoned_from}) is kept in {checkpoints}" in str(error.value)
        assert tf.train.latest_checkpoint(checkpoints).endswith(f"-{poisoned_from}")
    else:  # nothing was saved: the message must not point at a checkpoint directory that does not exist
        assert not os.path.exists(checkpoints) and checkpoints not in str(error.value)
        assert "No checkpoint of stage cnn was written yet" in str(error.value)


def test_all_stages_on_captions_only_data_names_a_real_flag(tmp_path):
    from data_prep import convert_lib  # pylint: disable=import-outside-toplevel

    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(1, 7)],
        "annotations": [{"id": i, "image_id": i, "caption": f"a dog number {i} on grass"} for i in range(1, 7)],
    }))
    data_dir = str(tmp_path / "data")
    convert_lib.convert(convert_lib.ConvertOptions(dataset="coco_captions", output_dir=data_dir,
                                                 captions_json=[str(captions)], num_concepts=4, num_workers=0,
                                                 show_progress=False))
    with pytest.raises(errors.OptionError, match="captions-only .* train it with --stage=rnn"):
        stage_runner.train(_options(data_dir, tmp_path / "model", stage="all"))


def test_vocabulary_mismatch_is_a_clear_error(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    model_dir_lib.bind_vocabularies(str(model_dir), tiny_synthetic_data)
    other = tmp_path / "other"
    os.makedirs(other / "vocab")
    for name in ("words", "concepts", "labels", "tags"):
        text = open(os.path.join(tiny_synthetic_data, "vocab", f"{name}.txt"), encoding="utf-8").read()
        if name == "concepts":
            lines = text.splitlines()
            text = "\n".join([lines[1], lines[0]] + lines[2:]) + "\n"
        (other / "vocab" / f"{name}.txt").write_text(text, encoding="utf-8")
    with pytest.raises(model_dir_lib.VocabularyMismatchError, match="concepts"):
        model_dir_lib.bind_vocabularies(str(model_dir), str(other))


MIRRORED_SCRIPT = r"""
import sys, json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[2])
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import stages
data_dir = sys.argv[1]
info = input_pipeline.dataset_info(data_dir)
config = ModelConfig(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
                     num_concepts=info["num_concepts"], vocab_size=info["vocab_size"], embedding_dim=16,
                     lstm_units=16, small_cnn_width=8)
pipeline = input_pipeline.PipelineConfig(task="caption", batch_size=8, image_size=32, preprocessing="tf",
                                         training=False, deterministic=True)
batch = next(iter(input_pipeline.make_dataset(data_dir, "train", pipeline)))
losses = {}
for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
        model = builder.build_model(config)
    if name == "one":
        weights = model.get_weights()
    else:
        model.set_weights(weights)
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
    def replica(b):
        terms = stages.per_example_losses("joint", model, b, training=False)
        return tf.nn.compute_average_loss(tf.add_n(list(terms.values())), global_batch_size=8)
    per_replica = strategy.run(tf.function(replica), args=(next(iter(dataset)),))
    losses[name] = float(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
    losses[name + "_replicas"] = strategy.num_replicas_in_sync

from s_cnn_rnn.training import stage_settings
def adam_copies(make_optimizer):  # each device's copy of two variables after 3 steps, same gradients on both
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        variables = [tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3) / 7), tf.Variable(np.ones(4, np.float32))]
        optimizer = make_optimizer()
        optimizer.build(variables)
    @tf.function(autograph=False)
    def step():
        strategy.run(lambda: optimizer.apply_gradients(zip([tf.sin(3.0 * v) for v in variables], variables)))
    for _ in range(3):
        step()
    return [[copy.numpy().tolist() for copy in strategy.experimental_local_results(v)] for v in variables]
losses["adam_ours"] = adam_copies(lambda: stage_settings.make_optimizer("adam", 1e-2, 0.0, "float32"))
losses["adam_keras"] = adam_copies(lambda: tf.keras.optimizers.Adam(1e-2, epsilon=1e-8))
print(json.dumps(losses))
"""


def test_mirrored_on_two_logical_cpus_gives_the_single_device_loss_and_keras_adam_updates(tiny_synthetic_data,
                                                                                        tmp_path):
    """The loss of one batch, and our Adam (one fused kernel per variable and device) against Keras' on
    every device's copy: logical devices are set before TensorFlow starts, so in a process of its own."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    project_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run([sys.executable, str(script), tiny_synthetic_data, project_root],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    losses = json.loads(completed.stdout.strip().splitlines()[-1])
    assert losses["mirrored_replicas"] == 2 and losses["one_replicas"] == 1
    assert losses["mirrored"] == pytest.approx(losses["one"], rel=1e-4)
    start = [np.arange(6).reshape(2, 3) / 7, np.ones(4)]
    for ours, keras_adam, first in zip(losses["adam_ours"], losses["adam_keras"], start, strict=True):
        assert len(ours) == 2 and np.array_equal(ours[0], ours[1])  # both copies updated alike
        np.testing.assert_allclose(ours[0], keras_adam[0], rtol=0, atol=1e-6)
        assert np.max(np.abs(np.array(ours[0]) - first)) > 1e-2  # 3 steps of lr 1e-2 moved it


def test_variant_without_a_stage_is_refused(tiny_synthetic_data, tmp_path):
    model = dataclasses.replace(TINY_MODEL, variant="nic_f")
    with pytest.raises(ValueError, match="has no 'rnn' stage"):
        stage_runner.train(_options(tiny_synthetic_data, tmp_path / "m", stage="rnn", model=model))
