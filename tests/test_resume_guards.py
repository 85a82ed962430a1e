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
    # A model dir written before the precision was recorded resumes as before.
    saved = json.loads(config_path.read_text())
    del saved["mixed_precision"]
    config_path.write_text(json.dumps(saved))
    keras.mixed_precision.set_global_policy("float32")
    assert stage_runner.train(resumed)["rnn"]["step"] == 2
