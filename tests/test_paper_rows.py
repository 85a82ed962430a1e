"""Every row of Tables 1, 2 and 4 built and trained as the paper does.

Point 4: NIC-deeply differs from Ours in its embedding only. Point 1: Fix freezes the backbone
only. Point 7: the head-only phase comes first, backbone in inference mode. Point 2: the tags stage.
Point 5: the decoder stage of the feature variants. Point 6: VGG16 reads fc2. Point 8: TF1's
optimizer epsilon. And every row's flagfile runs a few steps of each of its stages (Table 2's rows
through Table 1's, the same models with their own learning rates).
"""

import dataclasses
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from s_cnn_rnn import command_line
from s_cnn_rnn import input_pipeline
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import train_flags
from s_cnn_rnn.models import backbones
from s_cnn_rnn.models import builder
from s_cnn_rnn.models import variants
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.reproduce import tables
from s_cnn_rnn.training import history as history_lib
from s_cnn_rnn.training import stage_runner
from s_cnn_rnn.training import trainer

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS_DIR = PROJECT_ROOT / "flags"
# Each row of Tables 1, 2 and 4: its flagfile (what s-cnn-rnn-reproduce trains).
ROWS = tables.ROW_FLAGFILES
# The tiny model every row is shrunk to (the rest of each flagfile stays).
TINY = ("--backbone=small_cnn", "--backbone_weights=none", "--image_size=32", "--small_cnn_width=8",
        "--embedding_dim=16", "--lstm_units=16", "--batch_size=4", "--train_steps=2", "--log_every=1",
        "--validate_every=0")
TINY_MODEL = dict(backbone="small_cnn", backbone_weights="none", image_size=32, small_cnn_width=8,
                  embedding_dim=16, lstm_units=16)


def _parse_row(flagfile: str, *extra: str):
    """The row's flagfile plus `extra`, parsed as `s-cnn-rnn-train` parses it: (FlagValues, TrainFlags)."""
    values = flags.FlagValues()
    defined = train_flags.define(values)
    command_line.parse_flags(["s-cnn-rnn-train", f"--flagfile={FLAGS_DIR / flagfile}", *extra],
                             "s-cnn-rnn-train", values)
    return values, defined


def _settings(stage: str, steps: int = 2, head_steps: int = 0, **kwargs) -> trainer.StageSettings:
    return trainer.StageSettings(stage=stage, train_steps=steps, batch_size=4, learning_rate=1e-3,
                                 optimizer="adam", log_every=1, checkpoint_every=1, validate_every=0,
                                 head_steps=head_steps, **kwargs)


def _model(data_dir: str, task: str = "multilabel", **fields) -> builder.SCnnRnnModel:
    info = input_pipeline.dataset_info(data_dir)
    sizes = (dict(num_concepts=info["num_labels"], vocab_size=info["num_label_tokens"]) if task == "multilabel"
             else dict(num_concepts=info["num_concepts"], vocab_size=info["vocab_size"]))
    return builder.build_model(ModelConfig(**TINY_MODEL, **sizes, num_tags=info["num_tags"], **fields))


def _dataset(data_dir: str, stage: str, task: str = "multilabel"):
    from s_cnn_rnn.training import stages  # pylint: disable=import-outside-toplevel

    config = input_pipeline.PipelineConfig(task=task, batch_size=4, image_size=32, preprocessing="tf",
                                           training=True, read_images=stages.reads_images(stage), deterministic=True)
    return lambda start: input_pipeline.make_dataset(data_dir, "train", config)


def _values(variables) -> list:
    return [np.array(variable.numpy()) for variable in variables]


def _checkpoint_values(model, path: str, part) -> list:
    """`part(model)`'s variables as the checkpoint at `path` holds them (restored into `model`)."""
    tf.train.Checkpoint(**model.checkpoint_items()).read(path).expect_partial()
    return _values(part(model))


# ----------------------------------------------------------------------------- point 4
def test_nic_deeply_differs_from_ours_in_its_embedding_only():
    ours, deeply, nic_f = (variants.get(name) for name in ("s_cnn_rnn", "nic_deeply", "nic_f"))
    assert (deeply.embedding, ours.embedding) == ("features", "concepts")
    assert deeply.bridge == ours.bridge == "initial_state" and deeply.concept_loss
    assert nic_f.bridge == "step_zero_input"  # NIC-F stays NIC
    model = builder.build_model(ModelConfig(variant="nic_deeply", num_concepts=5, vocab_size=9, **TINY_MODEL))
    features = np.random.default_rng(0).normal(size=(2, 32)).astype("float32")
    hidden, cell = model.decoder_initial_state(features)
    np.testing.assert_allclose(hidden, model.decoder.bridge(features), atol=1e-6)  # h0 = Dense(features)
    assert not np.any(cell)                                                        # c0 = 0


# ----------------------------------------------------------------------------- point 7
def test_head_only_phase_comes_first_with_the_backbone_in_inference_mode(tiny_synthetic_data, tmp_path):
    model = _model(tiny_synthetic_data, task="caption")
    start = _values(model.concept_cnn.backbone.weights)
    settings = _settings("cnn", steps=1, head_steps=2)
    trainer.StageTrainer(model, tf.distribute.get_strategy(), settings, str(tmp_path),
                         _dataset(tiny_synthetic_data, "cnn", "caption")).run()
    steps = [record["step"] for record in history_lib.read_history(str(tmp_path / "history.jsonl"))]
    assert steps == [1, 2, 3]  # 2 head-only steps, then the 1 all-layer step
    checkpoints = str(tmp_path / "checkpoints")
    after_head = _checkpoint_values(model, os.path.join(checkpoints, "ckpt-2"), lambda m: m.concept_cnn.backbone.weights)
    for before, after in zip(start, after_head, strict=True):  # BatchNorm statistics included
        np.testing.assert_array_equal(before, after)
    after_all = _checkpoint_values(model, os.path.join(checkpoints, "ckpt-3"), lambda m: m.concept_cnn.backbone.weights)
    assert any(not np.array_equal(before, after) for before, after in zip(start, after_all))


# ----------------------------------------------------------------------------- point 2
def test_tags_stage_reads_no_image_and_its_loss_falls(tiny_synthetic_data, tmp_path):
    model = _model(tiny_synthetic_data, use_tags=True)
    batch = next(iter(_dataset(tiny_synthetic_data, "tags")(0)))
    assert "image" not in batch and "tags" in batch
    fixed = _dataset(tiny_synthetic_data, "tags")(0).take(1).cache().repeat()
    others = _values(model.concept_cnn.backbone.weights + model.concept_cnn.concept_layer.weights)
    settings = dataclasses.replace(_settings("tags", steps=60), learning_rate=1e-2, checkpoint_every=100)
    final = trainer.StageTrainer(model, tf.distribute.get_strategy(), settings, str(tmp_path),
                                 lambda start: fixed).run()
    first = history_lib.read_history(str(tmp_path / "history.jsonl"))[0]
    assert final["L_u"] < 0.5 * first["L_u"], (first, final)
    after = _values(model.concept_cnn.backbone.weights + model.concept_cnn.concept_layer.weights)
    assert all(np.array_equal(a, b) for a, b in zip(others, after))  # the tag MLP alone learned


def test_cnn_stage_starts_from_the_tags_stage(tiny_synthetic_data, tmp_path):
    values, defined = _parse_row("nuswide_ours_tag1k.flags", *TINY, f"--data_dir={tiny_synthetic_data}",
                                 f"--model_dir={tmp_path}", "--stage=tags")
    options = defined.options()
    assert stage_runner.train(options).keys() == {"tags"}
    model = builder.build_model(stage_runner.complete_model_config(options))
    tag_mlp = lambda m: m.concept_cnn.tag_mlp.weights  # noqa: E731
    pretrained = _checkpoint_values(_model(tiny_synthetic_data, use_tags=True),
                                    tf.train.latest_checkpoint(str(tmp_path / "tags" / "checkpoints")), tag_mlp)
    stage_runner._initializer(options, model, "cnn")()  # pylint: disable=protected-access
    for expected, got in zip(pretrained, _values(tag_mlp(model)), strict=True):
        np.testing.assert_array_equal(expected, got)
    with pytest.raises(Exception, match="no 'tags' stage"):
        stage_runner.train(dataclasses.replace(options, model=dataclasses.replace(options.model, use_tags=False)))


# ----------------------------------------------------------------------------- point 5
@pytest.mark.parametrize("variant", ["ria", "nic_f", "nic_deeply"])
def test_decoder_stage_trains_the_decoder_on_the_frozen_cnn(tiny_synthetic_data, tmp_path, variant):
    model = _model(tiny_synthetic_data, task="caption", variant=variant)
    assert "decoder" in variants.get(variant).stages
    cnn, decoder = _values(model.concept_cnn.weights), _values(model.decoder.weights)
    trainer.StageTrainer(model, tf.distribute.get_strategy(), _settings("decoder"), str(tmp_path),
                         _dataset(tiny_synthetic_data, "decoder", "caption")).run()
    assert all(np.array_equal(a, b) for a, b in zip(cnn, _values(model.concept_cnn.weights), strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(decoder, _values(model.decoder.weights)))


@pytest.mark.parametrize("row", sorted(ROWS), ids=str)
def test_every_decoder_gets_as_many_updates_as_ours(row):
    values, _ = _parse_row(ROWS[row], "--data_dir=/d", "--model_dir=/m")
    ours, _ = _parse_row({1: "nuswide_ours.flags", 2: "coco_multilabel_ours.flags", 4: "coco_caption_ours.flags"}[row[0]],
                         "--data_dir=/d", "--model_dir=/m")
    record = variants.get(values.variant)
    stage = "decoder" if "decoder" in record.stages else "rnn"
    if record.has_decoder:
        assert (values[f"{stage}_train_steps"].value, values[f"{stage}_learning_rate"].value) == (
            ours.rnn_train_steps, ours.rnn_learning_rate)
        assert values.joint_learning_rate == ours.joint_learning_rate
    # Sec. 5.1's head-only phase is the captioning recipe.
    assert values.cnn_head_steps == (5000 if values.task == "caption" else 0)
    assert values.backbone == ("inception_v3" if values.task == "caption" else "vgg16")


# ----------------------------------------------------------------------------- point 1
def test_fix_keeps_every_backbone_weight_and_trains_the_concept_layer(tiny_synthetic_data, tmp_path):
    """Through the command line's flag parsing: `flags/nuswide_ours_tag1k_fix.flags`, every stage (in this
    process: `s-cnn-rnn-train` itself has its subprocess tests; a TensorFlow start-up costs ~6 CPU s)."""
    start = backbones.build_backbone("small_cnn", "none", image_size=32, width=8)
    weights_file = str(tmp_path / "start.weights.h5")
    start.save_weights(weights_file)
    model_dir = tmp_path / "model"
    args = [arg for arg in TINY if not arg.startswith("--backbone_weights")] + ["--checkpoint_every=1"]
    _, defined = _parse_row("nuswide_ours_tag1k_fix.flags", *args, f"--backbone_weights={weights_file}",
                            f"--data_dir={tiny_synthetic_data}", f"--model_dir={model_dir}")
    options = defined.options()
    expected = _check_row((1, "Ours+Tag1K Fix"), options)  # its row of `test_every_row_flagfile_runs_...`
    _check_trained(stage_runner.train(options), expected, options, model_dir)
    saved = model_dir_lib.model_fields(model_dir_lib.load_config(str(model_dir)))
    assert saved["freeze_cnn"] and saved["use_tags"]
    model = builder.build_model(ModelConfig.from_dict(dict(saved, backbone_weights="none")))
    backbone = lambda m: m.concept_cnn.backbone.weights  # noqa: E731
    concept_layer = lambda m: m.concept_cnn.concept_layer.weights  # noqa: E731
    for stage in ("tags", "cnn", "rnn", "joint"):
        for path in tf.train.get_checkpoint_state(str(model_dir / stage / "checkpoints")).all_model_checkpoint_paths:
            if stage in ("tags", "rnn"):  # they train no backbone and do not save one
                assert not [n for n, _ in tf.train.list_variables(path) if n.startswith("concept_cnn/backbone")], path
                continue
            for expected, got in zip(_values(start.weights), _checkpoint_values(model, path, backbone), strict=True):
                np.testing.assert_array_equal(expected, got, err_msg=path)
    checkpoints = str(model_dir / "cnn" / "checkpoints")
    first, last = (_checkpoint_values(model, os.path.join(checkpoints, f"ckpt-{step}"), concept_layer) for step in (1, 2))
    assert any(not np.array_equal(a, b) for a, b in zip(first, last))


# ----------------------------------------------------------------------------- every row runs
# Table 2's rows are Table 1's models on COCO: the same options but for learning rates and the validation
# split (`test_table_2_rows_are_table_1_models_with_their_own_learning_rates`), so Table 1's rows train
# for both; Ours+Tag1K Fix trains in `test_fix_keeps_every_backbone_weight_and_trains_the_concept_layer`.
TRAINED_HERE = sorted(row for row in ROWS if row[0] != 2 and row != (1, "Ours+Tag1K Fix"))


def _check_row(row, options) -> tuple:
    """The row's variant record names it in the paper's table; returns the stages it trains."""
    record = variants.get(options.model.variant)
    assert variants.paper_row(record.name, options.model.use_tags, options.model.freeze_cnn) == row[1]
    assert any((r.table, r.row) == row for r in record.rows)
    return variants.stages_to_run(record.name, options.model.use_tags)


def _check_trained(results: dict, expected: tuple, options, model_dir) -> None:
    assert tuple(results) == expected
    for stage in expected:
        steps = [r["step"] for r in history_lib.read_history(str(model_dir / stage / "history.jsonl"))]
        assert steps == list(range(1, options.stage_settings[stage].total_steps + 1)), stage


@pytest.mark.parametrize("row", TRAINED_HERE, ids=lambda row: f"table{row[0]}-{row[1]}")
def test_every_row_flagfile_runs_each_of_its_stages(tiny_synthetic_data, tmp_path, row):
    values, defined = _parse_row(ROWS[row], *TINY, f"--data_dir={tiny_synthetic_data}", f"--model_dir={tmp_path}")
    if values.cnn_head_steps:
        values["cnn_head_steps"].value = 1
    options = defined.options()
    expected = _check_row(row, options)
    _check_trained(stage_runner.train(options), expected, options, tmp_path)


def _without_learning_rates(options) -> dict:
    fields = dataclasses.asdict(options)
    del fields["val_split"]
    for settings in fields["stage_settings"].values():
        del settings["learning_rate"]
    return fields


@pytest.mark.parametrize("row", sorted(row for row in ROWS if row[0] == 2), ids=lambda row: f"table2-{row[1]}")
def test_table_2_rows_are_table_1_models_with_their_own_learning_rates(row):
    common = (*TINY, "--data_dir=/d", "--model_dir=/m")
    options = _parse_row(ROWS[row], *common)[1].options()
    _check_row(row, options)
    trained = _parse_row(ROWS[(1, row[1])], *common)[1].options()
    assert _without_learning_rates(options) == _without_learning_rates(trained), (
        f"{ROWS[row]} now differs from {ROWS[(1, row[1])]} in more than learning rates and the validation "
        "split: add its row to TRAINED_HERE so that it trains itself")
    assert options.stage_settings["cnn"].learning_rate != trained.stage_settings["cnn"].learning_rate


# ----------------------------------------------------------------------------- points 6, 8
def test_vgg16_reads_fc2():
    spec = backbones.backbone_specs.get("vgg16")
    assert (spec.feature_layer, spec.feature_width, spec.default_image_size) == ("fc2", 4096, 224)
    assert backbones.backbone_specs.get("vgg16_pool5").feature_width == 512


def test_optimizers_take_tf1_epsilon():
    assert trainer.make_optimizer("rmsprop", 1e-4, 0.0, "float32").epsilon == pytest.approx(1e-10)
    assert trainer.make_optimizer("adam", 1e-4, 0.0, "float32").epsilon == pytest.approx(1e-8)


def test_without_a_flagfile_the_data_dirs_dataset_gets_the_papers_settings(tiny_synthetic_data, tmp_path):
    import json  # pylint: disable=import-outside-toplevel
    import shutil  # pylint: disable=import-outside-toplevel

    nuswide = tmp_path / "nuswide"
    shutil.copytree(tiny_synthetic_data, nuswide)
    manifest = json.loads((nuswide / "manifest.json").read_text())
    (nuswide / "manifest.json").write_text(json.dumps(dict(manifest, dataset="nuswide")))
    values = flags.FlagValues()
    defined = train_flags.define(values)
    command_line.parse_flags(["s-cnn-rnn-train", f"--data_dir={nuswide}", "--model_dir=/m", "--cnn_train_steps=7"],
                             "s-cnn-rnn-train", values)
    options = defined.options()
    paper, _ = _parse_row("nuswide_ours.flags", "--data_dir=/d", "--model_dir=/m")
    assert (options.task, options.model.backbone, options.model.lstm_activation, options.model.embedding_dim) == (
        "multilabel", "vgg16", "relu", 256)
    for stage in ("tags", "cnn", "rnn", "decoder", "joint"):
        assert options.stage_settings[stage].learning_rate == paper[f"{stage}_learning_rate"].value, stage
    assert options.stage_settings["cnn"].train_steps == 7  # what the command line says still wins
    assert values["task"].value == "caption"  # the flags themselves keep their defaults
    # The synthetic dataset belongs to no table: the flags' own defaults.
    command_line.parse_flags(["s-cnn-rnn-train", f"--data_dir={tiny_synthetic_data}", "--model_dir=/m"],
                             "s-cnn-rnn-train", values)
    assert defined.options().task == "caption"


def test_vgg16_imagenet_fc_layers_need_224_pixels():
    with pytest.raises(ValueError, match="needs 224 px"):
        ModelConfig(backbone="vgg16", backbone_weights="imagenet", image_size=96)
    with pytest.raises(ValueError, match="needs 224 px"):
        backbones.build_backbone("vgg16", "imagenet", image_size=96)
    assert ModelConfig(backbone="vgg16_pool5", backbone_weights="imagenet", image_size=96).image_size == 96
