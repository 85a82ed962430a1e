"""Tests of s_cnn_rnn/model_dir.py: who may import training, the hand-over table, restoring parts.

Tiny untrained models (small_cnn width 8 at 32 px); checkpoints are written by hand into the
stage folders, the way `tf.train.CheckpointManager` lays them out.
"""

import ast
import json
import os
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn import errors
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import stage_handovers
from s_cnn_rnn import models
from s_cnn_rnn.models import builder
from s_cnn_rnn.models import layout
from s_cnn_rnn.models import variants

PACKAGE = pathlib.Path(model_dir_lib.__file__).parent
# The serving side: what `s-cnn-rnn-evaluate`, `-predict` and `-export` run.
SERVING_SIDE = ("serving/*.py", "evaluation/*.py", "inference*.py", "trained_model.py", "model_dir.py",
                "evaluate.py", "predict.py", "export.py")


def _module_file(name: str) -> pathlib.Path | None:
    """The file of an s_cnn_rnn module name (None for a name that is not a module)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: pathlib.Path) -> set[str]:
    """The s_cnn_rnn modules a file imports anywhere (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from s_cnn_rnn import training` imports a module, `from x import Name` does not.
            names.update(f"{node.module}.{alias.name}" for alias in node.names
                         if _module_file(f"{node.module}.{alias.name}"))
    return {name for name in names if name == "s_cnn_rnn" or name.startswith("s_cnn_rnn.")}


def _training_imports(start: pathlib.Path) -> list[str]:
    """Chains `file -> module -> ... -> s_cnn_rnn.training...` reachable from `start`."""
    chains, seen = [], set()
    label = str(start.relative_to(PACKAGE.parent)) if start.is_relative_to(PACKAGE.parent) else start.name
    stack = [(start, (label,))]
    while stack:
        path, chain = stack.pop()
        for name in sorted(_imported_modules(path)):
            if name == "s_cnn_rnn.training" or name.startswith("s_cnn_rnn.training."):
                chains.append(" -> ".join(chain + (name,)))
            elif name not in seen and _module_file(name):
                seen.add(name)
                stack.append((_module_file(name), chain + (name,)))
    return chains


def test_serving_evaluation_and_inference_import_nothing_from_training():
    files = sorted({path for pattern in SERVING_SIDE for path in PACKAGE.glob(pattern)})
    assert len(files) >= 12 and PACKAGE / "inference.py" in files
    chains = [chain for path in files for chain in _training_imports(path)]
    assert not chains, "the serving side reaches s_cnn_rnn.training:\n" + "\n".join(chains)


def test_the_import_check_sees_an_import_through_another_module(tmp_path):
    # Guards the guard: a file that reaches training only through another module is caught.
    probe = tmp_path / "probe.py"
    probe.write_text("def later():\n    from s_cnn_rnn import train_flags\n", encoding="utf-8")
    assert "probe.py -> s_cnn_rnn.train_flags -> s_cnn_rnn.training" in _training_imports(probe)


def test_every_handover_names_stages_in_order_and_a_model_part():
    for row in stage_handovers.HANDOVERS:
        assert row.source in variants.STAGES and row.target in variants.STAGES, row
        assert variants.STAGE_ORDER.index(row.source) < variants.STAGE_ORDER.index(row.target), row
        assert row.items in ("cnn", "decoder", "tag_mlp"), row
    # Every part restores from a real model's layout (the tag MLP's under concept_cnn, as stages save it).
    model = builder.build_model(models.ModelConfig(
        variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32, num_concepts=6,
        vocab_size=11, embedding_dim=8, lstm_units=8, small_cnn_width=8, use_tags=True, num_tags=5))
    whole = model.checkpoint_items()
    for part in ("cnn", "decoder", "tag_mlp"):
        items = stage_handovers.part_items(model, part)
        assert items and set(items) <= set(whole), part
    assert model_dir_lib.FINAL_STAGE == variants.STAGE_ORDER[-1]


def test_each_stage_saves_the_parts_it_hands_on(tmp_path):
    model = builder.build_model(models.ModelConfig(
        variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32, num_concepts=6,
        vocab_size=11, embedding_dim=8, lstm_units=8, small_cnn_width=8, use_tags=True, num_tags=5))

    def saved_variables(stage):
        path = tf.train.Checkpoint(**stage_handovers.saved_items(model, stage)).save(str(tmp_path / stage / "ckpt"))
        return {name.split("/")[0] + "/" + name.split("/")[1] for name, _ in tf.train.list_variables(path)
                if not name.startswith(("_CHECKPOINTABLE", "save_counter"))}

    def tops(stage):
        return {name.split("/")[0] for name in saved_variables(stage)}

    whole = saved_variables("joint")  # the final stage: the whole model
    backbone = {name for name in whole if name.startswith("concept_cnn/")} - {"concept_cnn/tag_mlp"}
    assert backbone and tops("joint") == {"concept_cnn", "decoder"}
    # The image-free stages leave the backbone untouched and do not save it (VGG16: ~550 MB each).
    assert tops("rnn") == {"decoder"} and saved_variables("rnn") == {n for n in whole if n.startswith("decoder/")}
    assert saved_variables("tags") == {"concept_cnn/tag_mlp"}
    assert tops("cnn") == {"concept_cnn"} and backbone | {"concept_cnn/tag_mlp"} <= saved_variables("cnn")
    assert saved_variables("decoder") == whole  # NIC-F's decoder stage hands the CNN and the decoder on


def _tiny_model(seed: int, variant: str = "s_cnn_rnn"):
    tf.keras.utils.set_random_seed(seed)
    return builder.build_model(models.ModelConfig(
        variant=variant, backbone="small_cnn", backbone_weights="none", image_size=32, num_concepts=6,
        vocab_size=11, embedding_dim=8, lstm_units=8, small_cnn_width=8))


def _save(items: dict, model_dir: str, stage: str) -> str:
    return tf.train.Checkpoint(**items).save(os.path.join(model_dir_lib.checkpoints_dir(model_dir, stage), "ckpt"))


def _same_weights(first: dict, second: dict) -> bool:
    """Whether two checkpoint layouts hold equal values, variable by variable."""
    values = [[v.numpy() for v in layout.variables_of(items, trainable_only=False)] for items in (first, second)]
    return len(values[0]) == len(values[1]) and all(np.array_equal(a, b) for a, b in zip(*values))


def test_restore_model_takes_each_part_from_its_pretraining_stage(tmp_path):
    trained, fresh = _tiny_model(1), _tiny_model(2)
    model_dir = str(tmp_path)
    paths = {"cnn": _save(trained.cnn_checkpoint_items(), model_dir, "cnn"),
             "rnn": _save(trained.decoder_checkpoint_items(), model_dir, "rnn")}
    assert not _same_weights(trained.checkpoint_items(), fresh.checkpoint_items())
    restored = stage_handovers.restore_model(fresh, model_dir, ("cnn", "rnn", "joint"))
    assert restored == paths
    assert _same_weights(trained.checkpoint_items(), fresh.checkpoint_items())
    # Once there is a joint checkpoint, it alone holds the model.
    joint = _save(trained.checkpoint_items(), model_dir, "joint")
    assert stage_handovers.restore_model(_tiny_model(3), model_dir, ("cnn", "rnn", "joint")) == {"all": joint}


def test_restore_model_names_the_missing_part(tmp_path):
    model = _tiny_model(1)
    _save(model.cnn_checkpoint_items(), str(tmp_path), "cnn")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for the decoder \(looked in rnn/ and joint/\)"):
        stage_handovers.restore_model(model, str(tmp_path), ("cnn", "rnn", "joint"))
    # A variant without an rnn stage (NIC-deeply) never reads one, even if the folder exists.
    _save(model.decoder_checkpoint_items(), str(tmp_path), "rnn")
    with pytest.raises(FileNotFoundError, match="decoder"):
        stage_handovers.restore_model(model, str(tmp_path), ("cnn", "joint"))


def test_cnn_logistic_restores_from_its_cnn_stage_alone(tmp_path):
    trained, fresh = _tiny_model(1, "cnn_logistic"), _tiny_model(2, "cnn_logistic")
    path = _save(trained.cnn_checkpoint_items(), str(tmp_path), "cnn")
    assert stage_handovers.restore_model(fresh, str(tmp_path), ("cnn",)) == {"cnn": path}
    assert _same_weights(trained.checkpoint_items(), fresh.checkpoint_items())


def test_initialize_stage_hands_the_pretrained_parts_to_the_joint_stage(tmp_path):
    trained, fresh = _tiny_model(1), _tiny_model(2)
    model_dir = str(tmp_path)
    _save(trained.cnn_checkpoint_items(), model_dir, "cnn")
    with pytest.raises(FileNotFoundError, match=r"run --stage=rnn \(or --stage=all\) first"):
        stage_handovers.initialize_stage(fresh, model_dir, "joint", ("cnn", "rnn", "joint"))
    _save(trained.decoder_checkpoint_items(), model_dir, "rnn")
    assert set(stage_handovers.initialize_stage(fresh, model_dir, "joint", ("cnn", "rnn", "joint"))) == {"cnn", "rnn"}
    assert _same_weights(trained.checkpoint_items(), fresh.checkpoint_items())
    # Stages with no row start from scratch; variants without pretraining stages too (NIC-F).
    assert stage_handovers.initialize_stage(fresh, model_dir, "rnn", ("cnn", "rnn", "joint")) == {}
    assert stage_handovers.initialize_stage(fresh, model_dir, "joint", ("joint",)) == {}


def test_checkpoint_path_picks_the_best_the_latest_or_a_step(tmp_path):
    model, model_dir = _tiny_model(1, "cnn_logistic"), str(tmp_path)
    checkpoint = tf.train.Checkpoint(**model.cnn_checkpoint_items())
    first = checkpoint.save(os.path.join(model_dir_lib.checkpoints_dir(model_dir, "cnn"), "ckpt"))
    second = checkpoint.save(os.path.join(model_dir_lib.checkpoints_dir(model_dir, "cnn"), "ckpt"))
    assert model_dir_lib.checkpoint_path(model_dir, "cnn", "latest") == second
    assert model_dir_lib.checkpoint_path(model_dir, "cnn", "best") == second  # no best/: the latest
    best = tf.train.Checkpoint(**model.cnn_checkpoint_items()).save(os.path.join(model_dir, "cnn", "best", "ckpt"))
    assert model_dir_lib.checkpoint_path(model_dir, "cnn", "best") == best
    assert model_dir_lib.checkpoint_path(model_dir, "cnn", "1") == first
    assert model_dir_lib.checkpoint_path(model_dir, "cnn", "7") is None
    assert stage_handovers.restore_model(model, model_dir, ("cnn",), "2") == {"cnn": second}
    with pytest.raises(FileNotFoundError, match="no step-7 checkpoint for the CNN"):
        stage_handovers.restore_model(model, model_dir, ("cnn",), "7")
    with pytest.raises(ValueError, match=re.escape("--checkpoint must be best | latest | STEP, got 'newest'")):
        stage_handovers.restore_model(model, model_dir, ("cnn",), "newest")


def test_a_step_the_joint_stage_did_not_keep_is_refused(tmp_path):
    model, model_dir = _tiny_model(1), str(tmp_path)
    _save(model.checkpoint_items(), model_dir, "joint")
    with pytest.raises(FileNotFoundError, match="has no checkpoint of step 9"):
        stage_handovers.restore_model(model, model_dir, ("cnn", "rnn", "joint"), "9")


def test_config_of_the_first_format_is_upgraded(tmp_path):
    # Format 1 (no "config_format"): `vgg16` was the pooled pool5 backbone, today's `vgg16_pool5`.
    (tmp_path / model_dir_lib.CONFIG_FILE).write_text(json.dumps({"backbone": "vgg16", "task": "multilabel"}))
    assert model_dir_lib.load_config(str(tmp_path)) == {"backbone": "vgg16_pool5", "task": "multilabel"}
    model_dir_lib.save_config(str(tmp_path), {"backbone": "vgg16", "task": "multilabel"})
    assert model_dir_lib.load_config(str(tmp_path)) == {"backbone": "vgg16", "task": "multilabel"}
    (tmp_path / model_dir_lib.CONFIG_FILE).write_text(json.dumps({"backbone": "vgg16", "config_format": 99}))
    with pytest.raises(errors.UserError, match="upgrade s_cnn_rnn"):
        model_dir_lib.load_config(str(tmp_path))
