"""Tests of s_cnn_rnn.models: every variant's wiring, the decoder contract, weights and checkpoints.

Tiny models throughout: small_cnn width 8 at 32 px, k=6 concepts, V=11 tokens, embedding and LSTM 8.
"""

import dataclasses
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn import models

BATCH, TIME, K, VOCAB, NUM_TAGS, SIZE = 2, 5, 6, 11, 7, 32
VARIANTS = ("s_cnn_rnn", "nic_f", "nic_deeply", "cnn_logistic", "ria")


def tiny_config(**overrides) -> models.ModelConfig:
    values = dict(backbone="small_cnn", backbone_weights="none", image_size=SIZE, num_concepts=K,
                  vocab_size=VOCAB, embedding_dim=8, lstm_units=8, small_cnn_width=8)
    values.update(overrides)
    return models.ModelConfig(**values)


def tiny_batch(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "image": tf.constant(rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)), tf.float32),
        "tags": tf.constant(rng.integers(0, 2, (BATCH, NUM_TAGS)), tf.float32),
        "input_ids": tf.constant(rng.integers(1, VOCAB, (BATCH, TIME)), tf.int32),
    }


def step_by_step_logits(model, embedding, input_ids) -> np.ndarray:
    state = model.decoder_initial_state(embedding)
    logits = []
    for t in range(input_ids.shape[1]):
        step_logits, state = model.step(input_ids[:, t], state)
        logits.append(step_logits)
    return np.stack(logits, axis=1)


# ---------------------------------------------------------------------------------------- config
def test_config_round_trips_through_json():
    config = tiny_config(variant="nic_deeply", lstm_activation="relu", dropout=0.25, freeze_cnn=True)
    restored = models.ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert models.ModelConfig.from_json(config.to_json()) == config


def test_config_defaults_follow_the_paper():
    config = models.ModelConfig()
    assert (config.variant, config.backbone, config.lstm_units) == ("s_cnn_rnn", "inception_v3", 512)
    assert (config.resolved_image_size, config.preprocessing_mode) == (299, "tf")
    vgg = models.ModelConfig(backbone="vgg16")
    assert (vgg.resolved_image_size, vgg.preprocessing_mode) == (224, "caffe")


@pytest.mark.parametrize("variant, concept_loss, decoder, bridge_input, bridge_mode", [
    ("s_cnn_rnn", True, True, "concepts", "initial_state"),
    ("nic_f", False, True, "features", "step_zero_input"),
    ("nic_deeply", True, True, "features", "initial_state"),
    ("cnn_logistic", True, False, None, None),
    ("ria", False, True, "features", "initial_state"),
])
def test_config_variant_properties(variant, concept_loss, decoder, bridge_input, bridge_mode):
    config = tiny_config(variant=variant)
    assert config.has_concept_loss is concept_loss
    assert config.has_decoder is decoder
    assert config.bridge_input == bridge_input
    assert config.bridge_mode == bridge_mode


@pytest.mark.parametrize("overrides, message", [
    (dict(variant="nic"), "unknown ModelConfig.variant 'nic'"),
    (dict(backbone="resnet"), "unknown ModelConfig.backbone"),
    (dict(lstm_activation="sigmoid"), "lstm_activation"),
    (dict(backbone="vgg16", backbone_weights="imagenet", preprocessing="tf"), "expects 'caffe'"),
    (dict(backbone="small_cnn", backbone_weights="imagenet"), "--backbone_weights=none"),
    (dict(backbone_weights="weights.ckpt"), ".weights.h5"),
    (dict(variant="nic_f", use_tags=True, num_tags=3), "use_tags"),
    (dict(dropout=1.0), "dropout"),
    (dict(image_size=8), "too small"),
    (dict(num_concepts=0), "num_concepts"),
])
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(models.ModelConfigError, match=re.escape(message)):
        tiny_config(**overrides)


def test_placeholder_sizes_are_checked_when_building():
    # train.py makes the config from flags first and fills k, V and num_tags from the data later.
    placeholder = tiny_config(use_tags=True, num_tags=0, vocab_size=1, num_concepts=1)
    with pytest.raises(models.ModelConfigError, match="num_tags > 0"):
        models.build_model(placeholder)
    with pytest.raises(models.ModelConfigError, match="vocab_size=3"):
        models.build_model(dataclasses.replace(placeholder, num_tags=NUM_TAGS, vocab_size=3))
    completed = dataclasses.replace(placeholder, num_tags=NUM_TAGS, vocab_size=VOCAB, num_concepts=K)
    assert models.build_model(completed)(tiny_batch())["concept_probs"].shape == (BATCH, K)


def test_config_from_dict_rejects_unknown_fields():
    values = tiny_config().to_dict()
    values["lstm_layers"] = 2
    with pytest.raises(models.ModelConfigError, match="lstm_layers"):
        models.ModelConfig.from_dict(values)


def test_vgg16_from_scratch_may_use_tf_preprocessing():
    assert tiny_config(backbone="vgg16", preprocessing="tf").preprocessing_mode == "tf"


# ---------------------------------------------------------------------------------------- variants
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_builds_and_runs(variant):
    config = tiny_config(variant=variant)
    model = models.build_model(config)
    outputs = model(tiny_batch(), training=False)
    feature_dim = model.concept_cnn.feature_dim
    assert feature_dim == 4 * config.small_cnn_width
    assert outputs["features"].shape == (BATCH, feature_dim)
    if config.has_concept_loss:
        assert outputs["concept_logits"].shape == (BATCH, K)
        probs = outputs["concept_probs"].numpy()
        np.testing.assert_allclose(probs, tf.sigmoid(outputs["concept_logits"]).numpy(), atol=1e-6)
    else:  # nic_f and ria: no concept layer, nothing for L_u to read.
        assert model.concept_cnn.concept_layer is None
        assert not {"concept_logits", "concept_probs"} & set(outputs)
    if config.has_decoder:
        assert outputs["sequence_logits"].shape == (BATCH, TIME, VOCAB)
    else:  # cnn_logistic
        assert model.decoder is None and "sequence_logits" not in outputs
        assert model.decoder_checkpoint_items() == {}
        with pytest.raises(ValueError, match="no decoder"):
            model.image_embedding(tiny_batch()["image"])
    trainable_ids = [id(variable) for variable in model.trainable_variables]
    assert len(trainable_ids) == len(set(trainable_ids))  # the cell is shared, not duplicated


def test_s_cnn_rnn_bridge_reads_concept_probabilities():
    model = models.build_model(tiny_config(variant="s_cnn_rnn"))
    batch = tiny_batch()
    outputs = model(batch)
    embedding = model.image_embedding(batch["image"])
    np.testing.assert_allclose(embedding.numpy(), outputs["concept_probs"].numpy(), atol=1e-6)
    assert model.decoder.bridge.kernel.shape == (K, 8)
    h_before, _ = model.decoder_initial_state(embedding)
    layer = model.concept_cnn.concept_layer
    layer.kernel.assign(layer.kernel + 1.0)
    h_after, _ = model.decoder_initial_state(model.image_embedding(batch["image"]))
    assert not np.allclose(h_before.numpy(), h_after.numpy(), atol=1e-4)


# Embedding 5 != LSTM 8: the step-zero bridge projects into word space, the initial-state one to h.
@pytest.mark.parametrize("variant, bridge_units", [("nic_f", 5), ("nic_deeply", 8), ("ria", 8)])
def test_feature_variants_bridge_reads_pooled_features(variant, bridge_units):
    model = models.build_model(tiny_config(variant=variant, embedding_dim=5))
    batch = tiny_batch()
    outputs = model(batch)
    embedding = model.image_embedding(batch["image"])
    np.testing.assert_allclose(embedding.numpy(), outputs["features"].numpy(), atol=1e-6)
    assert model.decoder.bridge.kernel.shape == (model.concept_cnn.feature_dim, bridge_units)
    if variant == "nic_deeply":  # L_u shapes the CNN, but the concept layer is not on the path.
        h_before, _ = model.decoder_initial_state(embedding)
        layer = model.concept_cnn.concept_layer
        layer.kernel.assign(layer.kernel + 1.0)
        h_after, _ = model.decoder_initial_state(model.image_embedding(batch["image"]))
        np.testing.assert_allclose(h_before.numpy(), h_after.numpy(), atol=1e-6)


def test_initial_state_bridge_sets_hidden_state_and_zero_cell():
    model = models.build_model(tiny_config(variant="ria"))
    embedding = model.image_embedding(tiny_batch()["image"])
    hidden, cell = model.decoder_initial_state(embedding)
    np.testing.assert_allclose(hidden.numpy(), model.decoder.bridge(embedding).numpy(), atol=1e-6)
    np.testing.assert_array_equal(cell.numpy(), np.zeros((BATCH, 8)))


def test_step_zero_input_bridge_runs_one_lstm_step_from_zero_state():
    model = models.build_model(tiny_config(variant="nic_f", embedding_dim=5))
    embedding = model.image_embedding(tiny_batch()["image"])
    image_input = model.decoder.bridge(embedding)
    assert image_input.shape == (BATCH, 5)  # projected into word-embedding space
    zeros = tf.zeros((BATCH, 8))
    _, (expected_h, expected_c) = model.decoder.lstm_cell(image_input, [zeros, zeros])
    hidden, cell = model.decoder_initial_state(embedding)
    np.testing.assert_allclose(hidden.numpy(), expected_h.numpy(), atol=1e-6)
    np.testing.assert_allclose(cell.numpy(), expected_c.numpy(), atol=1e-6)
    assert np.abs(cell.numpy()).max() > 0


@pytest.mark.parametrize("variant", ["s_cnn_rnn", "nic_f"])  # one per bridge mode
def test_teacher_forced_logits_equal_step_by_step_logits(variant):
    model = models.build_model(tiny_config(variant=variant))
    batch = tiny_batch()
    teacher_forced = model(batch)["sequence_logits"].numpy()
    embedding = model.image_embedding(batch["image"])
    stepped = step_by_step_logits(model, embedding, batch["input_ids"])
    np.testing.assert_allclose(teacher_forced, stepped, atol=1e-5)
    assert model.decoder.sequence_rnn.cell is model.decoder.lstm_cell


def test_step_traces_with_an_unknown_batch_size():
    model = models.build_model(tiny_config())
    step = tf.function(model.step, input_signature=[
        tf.TensorSpec([None], tf.int32), (tf.TensorSpec([None, 8]), tf.TensorSpec([None, 8]))])
    logits, (hidden, cell) = step(tf.constant([1, 2, 3]), (tf.zeros([3, 8]), tf.zeros([3, 8])))
    assert logits.shape == (3, VOCAB) and hidden.shape == cell.shape == (3, 8)


@pytest.mark.parametrize("activation, bounded", [("tanh", True), ("relu", False)])
def test_lstm_activation_reaches_the_cell(activation, bounded):
    model = models.build_model(tiny_config(lstm_activation=activation))
    cell = model.decoder.lstm_cell
    assert cell.activation is keras.activations.get(activation)
    # Saturated gates and a candidate pre-activation of 5: h = act(act(5)); tanh keeps it below 1.
    cell.kernel.assign(tf.zeros_like(cell.kernel))
    cell.recurrent_kernel.assign(tf.zeros_like(cell.recurrent_kernel))
    cell.bias.assign(np.concatenate([np.full(8, 20.0), np.full(8, 20.0), np.full(8, 5.0),
                                     np.full(8, 20.0)]).astype(np.float32))
    _, (hidden, _) = model.step(tf.constant([1, 2]), (tf.zeros([2, 8]), tf.zeros([2, 8])))
    if bounded:
        assert hidden.numpy().max() < 1.0
    else:
        np.testing.assert_allclose(hidden.numpy(), 5.0, rtol=1e-4)


# ---------------------------------------------------------------------------------------- tags, freezing
def test_tag_logits_are_summed_into_the_concept_logits():
    batch = tiny_batch()
    tagged = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    outputs = tagged(batch)
    tag_logits = tagged.concept_cnn.tag_mlp(batch["tags"])
    np.testing.assert_allclose(outputs["concept_logits"].numpy(),
                               (outputs["image_concept_logits"] + tag_logits).numpy(), atol=1e-5)
    assert np.abs(tag_logits.numpy()).max() > 0

    # Zero tag MLP -> exactly the image-only model with the same image weights.
    for variable in tagged.concept_cnn.tag_mlp.weights:
        variable.assign(tf.zeros_like(variable))
    untagged = models.build_model(tiny_config())
    untagged.concept_cnn.backbone.set_weights(tagged.concept_cnn.backbone.get_weights())
    untagged.concept_cnn.concept_layer.set_weights(tagged.concept_cnn.concept_layer.get_weights())
    np.testing.assert_allclose(tagged(batch)["concept_probs"].numpy(),
                               untagged(batch)["concept_probs"].numpy(), atol=1e-6)


def test_tag_model_requires_tags():
    model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    batch = tiny_batch()
    del batch["tags"]
    with pytest.raises(ValueError, match="tags"):
        model(batch)


def test_freeze_cnn_freezes_the_backbone_only():
    """T7 "Fix": the CNN subnet keeps its weights; the concept layer above it, the tag MLP and the
    decoder learn."""
    model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS, freeze_cnn=True))
    trainable = {id(variable) for variable in model.trainable_variables}
    frozen = model.concept_cnn.backbone.weights
    assert frozen and not any(id(variable) in trainable for variable in frozen)
    for layer in (model.concept_cnn.concept_layer, model.concept_cnn.tag_mlp, model.decoder):
        assert layer.trainable_weights and all(id(v) in trainable for v in layer.trainable_weights)
    head = {id(variable) for variable in model.concept_cnn.head_variables()}
    assert head == {id(variable) for variable in model.concept_cnn.concept_layer.trainable_variables
                    + model.concept_cnn.tag_mlp.trainable_variables}


def test_head_variables_are_the_concept_layer_and_tag_mlp():
    model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    cnn = model.concept_cnn
    expected = cnn.concept_layer.trainable_variables + cnn.tag_mlp.trainable_variables
    assert [id(v) for v in cnn.head_variables()] == [id(v) for v in expected]
    assert not {id(v) for v in cnn.head_variables()} & {id(v) for v in cnn.backbone.weights}


def test_dropout_applies_in_training_only():
    model = models.build_model(tiny_config(dropout=0.5))
    batch = tiny_batch()
    first, second = model(batch)["sequence_logits"], model(batch)["sequence_logits"]
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    trained = model(batch, training=True)["sequence_logits"]
    assert not np.allclose(first.numpy(), trained.numpy())


# ---------------------------------------------------------------------------------------- stage 2
def test_relational_model_logits_use_the_given_concepts():
    model = models.build_model(tiny_config())
    input_ids = tiny_batch()["input_ids"]
    concepts = tf.constant([[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]], tf.float32)
    logits = model.relational_model_logits(concepts, input_ids)
    assert logits.shape == (BATCH, TIME, VOCAB) and logits.dtype == tf.float32
    np.testing.assert_allclose(logits.numpy(), step_by_step_logits(model, concepts, input_ids),
                               atol=1e-5)
    other = model.relational_model_logits(1.0 - concepts, input_ids)
    assert not np.allclose(logits.numpy(), other.numpy())


@pytest.mark.parametrize("variant", ["nic_f", "nic_deeply", "ria", "cnn_logistic"])
def test_relational_model_only_for_concept_bridges(variant):
    model = models.build_model(tiny_config(variant=variant))
    with pytest.raises(ValueError, match="stage 2 applies to s_cnn_rnn only"):
        model.relational_model_logits(tf.zeros([BATCH, K]), tiny_batch()["input_ids"])


# ---------------------------------------------------------------------------------------- precision
def test_mixed_precision_logits_stay_float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
        batch = tiny_batch()
        outputs = model(batch)
        for key in ("concept_logits", "concept_probs", "sequence_logits"):
            assert outputs[key].dtype == tf.float32, key
        assert outputs["features"].dtype == tf.float16  # the backbone does compute in float16
        state = model.decoder_initial_state(outputs["concept_probs"])
        logits, _ = model.step(batch["input_ids"][:, 0], state)
        assert logits.dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


# ---------------------------------------------------------------------------------------- weights
def test_imagenet_download_failure_names_the_alternatives(monkeypatch):
    def offline_get_file(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    # keras.applications fetches through this module attribute; no network is touched.
    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", offline_get_file)
    with pytest.raises(models.BackboneWeightsError) as raised:
        models.build_backbone("vgg16_pool5", "imagenet", image_size=32)
    message = str(raised.value)
    assert "download failed" in message and "URL fetch failure" in message
    assert "--backbone_weights=none" in message and "--backbone_weights=PATH" in message
    assert "keras.applications.VGG16(include_top=False, weights='imagenet')" in message


def test_small_cnn_has_no_imagenet_weights():
    with pytest.raises(ValueError, match="small_cnn has no ImageNet weights"):
        models.build_backbone("small_cnn", "imagenet", image_size=32, width=8)


def test_backbone_weights_path_loads_and_mismatches_are_clear(tmp_path):
    source = models.build_backbone("small_cnn", "none", image_size=SIZE, width=8)
    path = str(tmp_path / "small_cnn.weights.h5")
    source.save_weights(path)
    model = models.build_model(tiny_config(backbone_weights=path))
    for expected, loaded in zip(source.get_weights(), model.concept_cnn.backbone.get_weights()):
        np.testing.assert_array_equal(expected, loaded)
    with pytest.raises(models.BackboneWeightsError, match="does not exist"):
        models.build_backbone("small_cnn", str(tmp_path / "missing.weights.h5"), SIZE, width=8)
    with pytest.raises(models.BackboneWeightsError, match="small_cnn_width"):
        models.build_backbone("small_cnn", path, SIZE, width=16)


def test_stage_checkpoints_restore_by_sub_module(tmp_path):
    batch = tiny_batch()
    cnn_stage = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    rnn_stage = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    cnn_path = tf.train.Checkpoint(**cnn_stage.cnn_checkpoint_items()).save(str(tmp_path / "cnn"))
    rnn_path = tf.train.Checkpoint(**rnn_stage.decoder_checkpoint_items()).save(str(tmp_path / "rnn"))

    joint = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    tf.train.Checkpoint(**joint.cnn_checkpoint_items()).restore(cnn_path).assert_consumed()
    tf.train.Checkpoint(**joint.decoder_checkpoint_items()).restore(rnn_path).assert_consumed()
    joint_outputs = joint(batch)
    np.testing.assert_allclose(joint_outputs["concept_probs"].numpy(),
                               cnn_stage(batch)["concept_probs"].numpy(), atol=1e-6)
    concepts = joint_outputs["concept_probs"]
    np.testing.assert_allclose(
        joint_outputs["sequence_logits"].numpy(),
        rnn_stage.relational_model_logits(concepts, batch["input_ids"]).numpy(), atol=1e-5)
    assert set(joint.tag_mlp_checkpoint_items()) == {"tag_mlp"}


def test_whole_model_checkpoint_hands_each_half_to_the_next_stage(tmp_path):
    # A stage saves checkpoint_items(); the joint stage reads one half of it under the same key.
    cnn_stage = models.build_model(tiny_config())
    path = tf.train.Checkpoint(**cnn_stage.checkpoint_items()).save(str(tmp_path / "stage"))
    joint = models.build_model(tiny_config())
    tf.train.Checkpoint(**joint.cnn_checkpoint_items()).read(path).assert_existing_objects_matched()
    batch = tiny_batch()
    np.testing.assert_allclose(joint(batch)["concept_logits"].numpy(),
                               cnn_stage(batch)["concept_logits"].numpy(), atol=1e-6)
    assert not np.allclose(joint.decoder.bridge.kernel.numpy(), cnn_stage.decoder.bridge.kernel.numpy())
