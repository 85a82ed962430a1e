"""Resuming and restoring a model dir: settings that cannot resume, damaged checkpoints, a full disk."""

import dataclasses
import json
import os

import keras
import pytest

from s_cnn_rnn import errors
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.training import stage_runner
from test_training import _options
from tests import cli_runner


@pytest.fixture
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")  # a refused run has already set its policy


def _more_steps(options, stage: str, steps: int):
    settings = dict(options.stage_settings)
    settings[stage] = dataclasses.replace(settings[stage], train_steps=steps)
    return dataclasses.replace(options, stage_settings=settings)


def test_resuming_with_another_float16_setting_is_refused_in_one_line(tiny_synthetic_data, tmp_path, float32_policy):
    options = _options(tiny_synthetic_data, tmp_path / "model", stage="rnn", steps=(1, 1, 1), validation_decode_examples=0)
    stage_runner.train(options)
    config_path = tmp_path / "model" / model_dir_lib.CONFIG_FILE
    assert json.loads(config_path.read_text())["mixed_precision"] == "float32"
    resumed = _more_steps(options, "rnn", 2)
    with pytest.raises(errors.OptionError) as refused:
        stage_runner.train(dataclasses.replace(resumed, mixed_precision="mixed_float16"))
    message = str(refused.value)
    assert "\n" not in message and "resume with --mixed_precision=float32" in message
    # A model dir written before the precision was recorded resumes as before (and is not rewritten).
    saved = json.loads(config_path.read_text())
    config = dict(model_dir_lib.load_config(str(tmp_path / "model")), mixed_precision="mixed_float16")
    del saved["mixed_precision"]
    config_path.write_text(json.dumps(saved))
    assert model_dir_lib.check_config(str(tmp_path / "model"), config, may_change=False) is False


def test_a_best_checkpoint_that_lost_files_is_named_not_replaced(tiny_synthetic_data, tmp_path):
    import shutil  # pylint: disable=import-outside-toplevel

    import serving_fixtures  # pylint: disable=import-outside-toplevel
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tmp_path / "model"), "caption")
    joint = tmp_path / "model" / "joint"
    shutil.copytree(joint / "checkpoints", joint / model_dir_lib.BEST_DIR)  # the stage kept a best: step 1
    assert model_dir_lib.checkpoint_path(model_dir, "joint", "best") == str(joint / "best" / "ckpt-1")

    def export(*flags):
        return cli_runner.run("s_cnn_rnn.export", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'export'}", *flags)

    (joint / "best" / "ckpt-1.data-00000-of-00001").unlink()
    for _ in ("data gone", "index gone too"):
        with pytest.raises(model_dir_lib.CheckpointFilesError, match="best checkpoint .* has lost"):
            model_dir_lib.checkpoint_path(model_dir, "joint", "best")
        done = export()
        assert done.returncode == 2 and not (tmp_path / "export").exists()
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "ckpt-1.data-00000-of-00001" in lines[0] and "--checkpoint=latest" in lines[0]
        (joint / "best" / "ckpt-1.index").unlink(missing_ok=True)
    # The fix the line gives: the latest checkpoint is whole.
    assert model_dir_lib.checkpoint_path(model_dir, "joint", "latest") == str(joint / "checkpoints" / "ckpt-1")
