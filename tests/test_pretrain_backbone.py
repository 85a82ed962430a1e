"""The miniature's pretrained backbone: single-object images, the pretraining, the command.

Tiny throughout: 32 px images, small_cnn width 8, a few dozen steps.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from data_prep.synthetic import generator
from data_prep.synthetic import render_layout
from data_prep.synthetic import single_object
from s_cnn_rnn import errors
from s_cnn_rnn.pretrain_options import PretrainOptions

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 32
NUM_CLASSES = len(single_object.CLASSES)
TINY = PretrainOptions(image_size=SIZE, small_cnn_width=8, render_size=SIZE, num_train_images=2 * NUM_CLASSES,
                       num_heldout_images=NUM_CLASSES, train_steps=3, batch_size=8, seed=5)


def _digests(images: np.ndarray) -> set:
    return {hashlib.sha256(image.tobytes()).hexdigest() for image in images}


def test_classes_are_the_object_labels():
    assert len(single_object.CLASSES) == 37
    assert not set(single_object.CLASSES) & {"sky", "road", "grass", "water", "sand", "snow"}
    assert {"dog", "cat", "car", "rainbow", "clock"} <= set(single_object.CLASSES)


@pytest.mark.parametrize("index", [0, 3, 11, 36, 40])
def test_each_image_holds_exactly_one_visible_object_of_its_class(index):
    rngs = single_object.image_rngs(0, "train", index)
    layout = single_object.sample_object_layout(rngs["layout"], single_object.CLASSES[index % NUM_CLASSES])
    objects = [thing for thing in layout.things if thing.place != "region"]
    assert [thing.label for thing in objects] == [single_object.CLASSES[index % NUM_CLASSES]]
    _, visible = render_layout.render(layout, SIZE, rngs["paint"])
    assert [layout.things[v.index].label for v in visible if layout.things[v.index].place != "region"] == [
        objects[0].label]
    image, label = single_object.draw_image(0, "train", index, SIZE)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8 and label == index % NUM_CLASSES


def test_images_are_reproducible_for_a_seed_and_differ_for_another():
    first = single_object.draw_images(3, "train", 8, SIZE)
    again = single_object.draw_images(3, "train", 8, SIZE)
    other = single_object.draw_images(4, "train", 8, SIZE)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, np.arange(8))
    np.testing.assert_array_equal(first.labels, other.labels)
    assert not _digests(first.images) & _digests(other.images)


def test_heldout_images_are_not_training_images():
    train = single_object.draw_images(0, "train", 2 * NUM_CLASSES, SIZE)
    heldout = single_object.draw_images(0, "heldout", NUM_CLASSES, SIZE)
    assert len(_digests(train.images)) == len(train.images)
    assert not _digests(train.images) & _digests(heldout.images)
    assert sorted(heldout.labels) == list(range(NUM_CLASSES))  # every class, balanced


def test_streams_never_take_a_dataset_images_seed():
    # The dataset seeds image `image_id` with [seed, image_id], image_id <= _MAX_IMAGES; ours always have
    # DOMAIN second.
    assert single_object.DOMAIN > generator._MAX_IMAGES  # pylint: disable=protected-access
    entropy = single_object.image_rngs(0, "heldout", 7)["layout"].bit_generator.seed_seq.entropy
    assert list(entropy) == [0, single_object.DOMAIN, 1, 7]
    with pytest.raises(ValueError, match="split"):
        single_object.image_rngs(0, "test", 0)


def test_pretraining_learns_above_chance():
    from s_cnn_rnn import backbone_pretraining  # pylint: disable=import-outside-toplevel

    classes = 4  # a few classes and many images of each, so that a few dozen steps learn them
    train = [single_object.draw_image(1, "train", label + NUM_CLASSES * k, SIZE) for label in range(classes)
             for k in range(24)]
    heldout = [single_object.draw_image(1, "heldout", label + NUM_CLASSES * k, SIZE) for label in range(classes)
               for k in range(10)]

    def stack(pairs):
        return backbone_pretraining.LabelledImages(np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs]))

    options = dataclasses.replace(TINY, small_cnn_width=16, train_steps=100, batch_size=16, learning_rate=3e-3)
    result = backbone_pretraining.pretrain(options, stack(train), stack(heldout), classes)
    assert result.chance_top1 == 0.25
    assert result.heldout_top1 >= 0.4, result  # 40 held-out images; chance 0.25
    assert result.backbone.name == "backbone" and result.backbone.output_shape == (None, 4 * 16)


def _file_arrays(path: str) -> list:
    import h5py  # pylint: disable=import-outside-toplevel

    arrays = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    from s_cnn_rnn import pretrained_weights  # pylint: disable=import-outside-toplevel

    path = str(tmp_path_factory.mktemp("pretrained") / "small_cnn.weights.h5")
    lines = []
    report = pretrained_weights.make_backbone_weights(path, TINY, log=lines.append)
    return path, report, lines


def test_weights_load_where_training_builds_the_backbone(weights_file):
    from s_cnn_rnn import models  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.models.config import ModelConfig  # pylint: disable=import-outside-toplevel

    path, _, _ = weights_file
    config = ModelConfig(backbone="small_cnn", backbone_weights=path, image_size=SIZE, small_cnn_width=8,
                         num_concepts=6, vocab_size=11, embedding_dim=8, lstm_units=8, freeze_cnn=True)
    backbone = models.build_model(config).concept_cnn.backbone
    stored = _file_arrays(path)
    loaded = [weight.numpy() for weight in backbone.weights]
    assert len(stored) == len(loaded) == 20  # 4 blocks x (conv kernel; BatchNorm gamma, beta, mean, variance)
    for value in loaded:
        assert any(s.shape == value.shape and np.array_equal(s, value) for s in stored)
    # Trained: the BatchNorm statistics moved off their initial zeros and ones.
    assert not all(np.all(value == 0.0) or np.all(value == 1.0) for value in loaded if value.ndim == 1)


def test_report_is_written_beside_the_weights(weights_file):
    path, report, lines = weights_file
    with open(path[:-len(".weights.h5")] + ".json", encoding="utf-8") as handle:
        assert json.load(handle) == report
    assert report["command"] == "s-cnn-rnn-pretrain-backbone"
    assert report["classes"] == list(single_object.CLASSES) and report["num_classes"] == NUM_CLASSES
    assert report["chance_top1"] == round(1 / NUM_CLASSES, 4) and 0.0 <= report["heldout_top1"] <= 1.0
    assert report["seed"] == 5 and report["image_size"] == SIZE and report["backbone"] == "small_cnn"
    assert report["small_cnn_width"] == 8 and report["train_steps"] == 3
    assert report["num_train_images"] == 2 * NUM_CLASSES and report["num_heldout_images"] == NUM_CLASSES
    assert report["train_seconds"] > 0 and report["train_cpu_seconds"] > 0
    assert any(line.startswith("step 3/3: loss") for line in lines)
    assert "held-out top-1" in lines[-1]


def test_same_seed_same_weights_and_overwrite_replaces_our_output(weights_file, tmp_path):
    from s_cnn_rnn import pretrained_weights  # pylint: disable=import-outside-toplevel

    path, _, _ = weights_file
    copy = str(tmp_path / "again.weights.h5")
    pretrained_weights.make_backbone_weights(copy, TINY)
    for ours, theirs in zip(_file_arrays(path), _file_arrays(copy)):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(pretrained_weights.OutputError, match="--overwrite"):
        pretrained_weights.make_backbone_weights(copy, TINY)
    pretrained_weights.make_backbone_weights(copy, dataclasses.replace(TINY, seed=6), overwrite=True)
    assert not np.array_equal(_file_arrays(path)[0], _file_arrays(copy)[0])
    assert sorted(os.listdir(tmp_path)) == ["again.json", "again.weights.h5"]  # no temporary files left


def _command(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "s_cnn_rnn.pretrain_backbone", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _one_error_line(completed) -> str:
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s-cnn-rnn-pretrain-backbone: error: "), lines
    return lines[0]


def test_command_refuses_a_bad_output_in_one_line(tmp_path):
    assert ".weights.h5" in _one_error_line(_command(f"--output={tmp_path / 'backbone.h5'}"))
    (tmp_path / "d.weights.h5").mkdir()
    assert "is a directory" in _one_error_line(_command(f"--output={tmp_path / 'd.weights.h5'}"))
    assert "--train_steps=0" in _one_error_line(_command(f"--output={tmp_path / 'x.weights.h5'}", "--train_steps=0"))


def test_command_refuses_existing_files_in_one_line(tmp_path):
    foreign = tmp_path / "theirs.weights.h5"
    foreign.write_bytes(b"not ours")
    line = _one_error_line(_command(f"--output={foreign}", "--overwrite"))
    assert "never replaced" in line and foreign.read_bytes() == b"not ours"
    ours = tmp_path / "ours.weights.h5"
    ours.write_bytes(b"weights")
    (tmp_path / "ours.json").write_text(json.dumps({"command": "s-cnn-rnn-pretrain-backbone"}))
    assert "pass --overwrite" in _one_error_line(_command(f"--output={ours}"))
    assert ours.read_bytes() == b"weights"


def test_options_are_checked():
    with pytest.raises(errors.OptionError, match="image_size"):
        PretrainOptions(image_size=8)
    with pytest.raises(errors.OptionError, match="learning_rate"):
        PretrainOptions(learning_rate=0.0)
    with pytest.raises(errors.OptionError, match="backbone"):
        PretrainOptions(backbone="inception_v3")


def test_report_holds_what_reproduce_checks(weights_file):
    from s_cnn_rnn import pretrained_weights  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.reproduce import pretrained_backbone  # pylint: disable=import-outside-toplevel

    path, report, _ = weights_file
    assert pretrained_backbone.report_path(path) == pretrained_weights.report_path(path)
    assert {name: report[name] for name in pretrained_backbone.BACKBONE_FLAGS} == {
        "backbone": "small_cnn", "image_size": SIZE, "small_cnn_width": 8}


def test_loss_log_reports_each_steps_own_loss():
    from s_cnn_rnn import backbone_pretraining  # pylint: disable=import-outside-toplevel

    logged = []
    callback = backbone_pretraining._LossLog(2, lambda step, loss: logged.append((step, loss)))  # pylint: disable=protected-access
    callback.set_params({"steps": 4})
    for batch, running_mean in enumerate([1.0, 2.5, 14.0 / 3.0, 7.5]):  # Keras' running means of 1, 4, 9, 16
        callback.on_train_batch_end(batch, {"loss": running_mean})
    assert [step for step, _ in logged] == [2, 4]
    np.testing.assert_allclose([loss for _, loss in logged], [2.5, 12.5])


def test_batch_norm_statistics_are_re_estimated_on_the_images():
    import keras  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import backbone_pretraining  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.models import backbones  # pylint: disable=import-outside-toplevel

    backbone = backbones.build_backbone("small_cnn", "none", SIZE, width=8)
    images = single_object.draw_images(2, "train", 512, SIZE).images  # two batches of the evaluation pass
    backbone_pretraining.recalibrate_batch_norm(backbone, images, TINY, "tf")
    conv = keras.Model(backbone.input, backbone.get_layer("block1_conv").output)
    outputs = conv.predict(images.astype(np.float32) / 127.5 - 1.0, verbose=0)
    norm = backbone.get_layer("block1_bn")
    np.testing.assert_allclose(norm.moving_mean.numpy(), outputs.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
    batch_variances = [outputs[start:start + 256].var(axis=(0, 1, 2)) for start in (0, 256)]
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.mean(batch_variances, axis=0), rtol=1e-3, atol=1e-5)
    assert norm.momentum == 0.99  # restored
