"""The console scripts' plumbing: quiet start-up, one-line errors, flags derived from dataclasses,
flagfiles relative to their includer, path flags."""

import errno
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from absl import flags

from data_prep import convert_lib
from s_cnn_rnn import command_line
from s_cnn_rnn import errors
from s_cnn_rnn import option_flags
from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]

# The flags of `s-cnn-rnn-train` and `s-cnn-rnn-convert` with their defaults before they were
# derived from the dataclasses: flagfiles, the README and users rely on every one of them.
TRAIN_FLAGS = {
    "stage": "all", "data_dir": None, "model_dir": None, "task": "caption", "variant": "s_cnn_rnn",
    "backbone": "inception_v3", "backbone_weights": "imagenet", "image_size": None, "embedding_dim": 512,
    "lstm_units": 512, "lstm_activation": "tanh", "use_tags": False, "freeze_cnn": False, "dropout": 0.0,
    "small_cnn_width": 32, "batch_size": 32, "augment": False, "max_caption_length": 20, "val_split": "val",
    "train_steps": None, "cnn_train_steps": 30000, "cnn_learning_rate": 1e-4, "cnn_optimizer": "rmsprop",
    "rnn_train_steps": 100000, "rnn_learning_rate": 1e-4, "rnn_optimizer": "rmsprop", "joint_train_steps": 50000,
    "joint_learning_rate": 1e-4, "joint_optimizer": "rmsprop", "cnn_head_steps": 0, "gradient_clip_norm": 0.0,
    "log_every": 50, "checkpoint_every": 500, "validate_every": 500, "validation_steps": 20, "distribution": "none",
    "mixed_precision": "float32", "jit_compile": False, "deterministic": False, "seed": 0, "retrain": False,
}
CONVERT_FLAGS = {
    "dataset": "synthetic", "output_dir": None, "image_dir": None, "captions_json": None, "splits": None,
    "overwrite": False, "instances_json": None, "labels_json": None, "labels_npz": None, "nuswide_dir": None,
    "nuswide_annotations_json": None, "concepts_file": None, "tag_list_file": None, "tfds_data_dir": None,
    "synthetic_num_train": 3000, "synthetic_num_val": 500, "synthetic_num_test": 500, "synthetic_image_size": 96,
    "seed": 0, "max_words": 12000, "min_word_count": 1, "num_concepts": 1000, "examples_per_shard": 1000,
    "num_workers": None, "progress": True,
}


def _train_flag_values():
    from s_cnn_rnn import train_flags  # pylint: disable=import-outside-toplevel  (imports TensorFlow)

    values = flags.FlagValues()
    return values, train_flags.define(values)


def _convert_flag_values():
    values = flags.FlagValues()
    return values, option_flags.define(convert_lib.ConvertOptions, defaults={"dataset": "synthetic"},
                                       flag_values=values)


def _parse(values, *args, command="s-cnn-rnn-train"):
    return command_line.parse_flags([command, *args], command, values)


def _refused(capsys, values, *args) -> str:
    """Parses args that must be refused: returns the one stderr line (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        _parse(values, *args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("s-cnn-rnn-train: error: "), lines
    return lines[0]


# ----------------------------------------------------------------------------- flags from dataclasses


def test_train_and_convert_flag_names_and_defaults_are_unchanged():
    train_values, _ = _train_flag_values()
    convert_values, _ = _convert_flag_values()
    # New options may add flags; none of these may disappear or change its default.
    assert {name: train_values[name].default for name in TRAIN_FLAGS if name in train_values} == TRAIN_FLAGS
    assert {name: convert_values[name].default for name in CONVERT_FLAGS if name in convert_values} == CONVERT_FLAGS


def test_help_is_the_comment_above_the_field():
    values, _ = _train_flag_values()
    assert values["lstm_units"].help == "LSTM units (M3): 512 in every experiment of the paper."
    assert values["cnn_head_steps"].help.startswith("cnn stage: First train only the concept layer")
    assert values["checkpoint_every"].help == "Steps between checkpoints."


def test_flags_read_back_into_the_dataclasses():
    values, train = _train_flag_values()
    _parse(values, "--data_dir=/d", "--model_dir=/m", "--variant=nic_f", "--backbone=small_cnn",
           "--backbone_weights=none", "--rnn_learning_rate=0.5", "--cnn_head_steps=3", "--log_every=7")
    options = train.options()
    assert (options.data_dir, options.model.variant, options.model.backbone) == ("/d", "nic_f", "small_cnn")
    assert options.stage_settings["rnn"].learning_rate == 0.5 and options.stage_settings["cnn"].head_steps == 3
    assert options.stage_settings["joint"].head_steps == 0
    assert {s.log_every for s in options.stage_settings.values()} == {7}
    _parse(values, "--data_dir=/d", "--model_dir=/m", "--train_steps=9")
    assert {s.train_steps for s in train.options().stage_settings.values()} == {9}


@pytest.mark.parametrize("flag", ["--checkpoint_every=0", "--log_every=0", "--cnn_train_steps=0",
                                  "--joint_train_steps=-3", "--batch_size=0", "--validate_every=-1"])
def test_senseless_step_settings_are_refused_before_any_work(flag):
    values, train = _train_flag_values()
    _parse(values, "--data_dir=/d", "--model_dir=/m", flag)
    with pytest.raises(errors.OptionError) as error:
        train.options()  # what s-cnn-rnn-train calls before it touches the data or builds a model
    assert str(error.value).startswith(flag.split("=")[0] + "=")


@pytest.mark.parametrize("flag", ["--train_steps=0", "--train_steps=-5"])
def test_train_steps_zero_or_negative_is_refused_at_parse_time(capsys, flag):
    values, _ = _train_flag_values()
    assert "--train_steps=" in _refused(capsys, values, "--data_dir=/d", "--model_dir=/m", flag)


def test_missing_required_directory_names_the_flag():
    values, train = _train_flag_values()
    _parse(values, "--model_dir=/m")
    with pytest.raises(errors.OptionError, match="^--data_dir: is required"):
        train.options()


def test_library_users_get_the_same_validation():
    from s_cnn_rnn.training import trainer  # pylint: disable=import-outside-toplevel

    with pytest.raises(errors.OptionError, match="checkpoint_every"):
        trainer.StageSettings(stage="cnn", train_steps=10, batch_size=2, checkpoint_every=0)
    with pytest.raises(errors.OptionError, match="synthetic_num_train"):
        convert_lib.ConvertOptions(dataset="synthetic", output_dir="/o", synthetic_num_train=0)


def test_decoding_flags_have_one_source():
    from s_cnn_rnn import decode_options  # pylint: disable=import-outside-toplevel

    values = flags.FlagValues()
    decode = option_flags.define(decode_options.DecodeOptions, fields=("beam_width", "batch_size"),
                                 defaults={"batch_size": 16}, flag_values=values)
    values(["predict", "--beam_width=5"])
    assert decode.build() == decode_options.DecodeOptions(beam_width=5, max_length=None, batch_size=16)
    values(["predict", "--beam_width=0"])
    with pytest.raises(errors.OptionError, match="^--beam_width=0"):
        decode.build()


# ----------------------------------------------------------------------------- flagfiles and paths


def test_nested_flagfile_resolves_relative_to_its_includer_from_any_cwd(tmp_path, monkeypatch):
    installed = tmp_path / "share" / "s-cnn-rnn" / "flags"
    shutil.copytree(PROJECT_ROOT / "flags", installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    values, train = _train_flag_values()
    _parse(values, f"--flagfile={installed / 'nuswide_ours_tag1k_fix.flags'}", "--data_dir=/d", "--model_dir=/m")
    options = train.options()  # three files deep: tag1k_fix -> tag1k -> ours
    assert options.model.use_tags and options.model.freeze_cnn and options.task == "multilabel"
    # Relative top-level path, and the `--flagfile FILE` form.
    _parse(values, "--flagfile", "../share/s-cnn-rnn/flags/coco_caption_nic_f.flags")
    assert (values.variant, values.backbone, values.cnn_head_steps) == ("nic_f", "inception_v3", 5000)


def test_a_flagfile_written_for_absl_rule_still_works(tmp_path, monkeypatch):
    (tmp_path / "flags").mkdir()
    (tmp_path / "flags" / "base.flags").write_text("--lstm_units=64\n")
    (tmp_path / "flags" / "child.flags").write_text("# relative to the working directory\n"
                                                    "--flagfile=flags/base.flags\n--embedding_dim=8\n")
    monkeypatch.chdir(tmp_path)
    assert command_line.expand_flagfiles(["x", "--flagfile=flags/child.flags", "--a"]) == [
        "x", "--lstm_units=64", "--embedding_dim=8", "--a"]


def test_missing_or_circular_flagfile_is_one_line(tmp_path, capsys):
    values, _ = _train_flag_values()
    line = _refused(capsys, values, f"--flagfile={tmp_path / 'absent.flags'}")
    assert "cannot read flagfile" in line and "absent.flags" in line
    loop = tmp_path / "loop.flags"
    loop.write_text("--flagfile=loop.flags\n")
    assert "includes itself" in _refused(capsys, values, f"--flagfile={loop}")


def test_tilde_is_expanded_in_every_path_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    values, convert = _convert_flag_values()
    _parse(values, "--dataset=tfds_coco_captions", "--tfds_data_dir=~/tensorflow_datasets", "--output_dir=~/out",
           "--image_dir=~/a,~/b", command="s-cnn-rnn-convert")
    options = convert.build()
    assert options.tfds_data_dir == str(tmp_path / "tensorflow_datasets")
    assert options.output_dir == str(tmp_path / "out")
    assert options.image_dirs == [str(tmp_path / "a"), str(tmp_path / "b")]
    train_values, train = _train_flag_values()
    _parse(train_values, "--data_dir=~/d", "--model_dir=~/m")
    assert train.options().model_dir == str(tmp_path / "m")


@pytest.mark.parametrize("value", ['"~/tensorflow_datasets"', "'/data/coco'"])
def test_a_path_that_still_carries_quotes_is_refused(capsys, value):
    values, _ = _train_flag_values()
    line = _refused(capsys, values, f"--data_dir={value}", "--model_dir=/m")
    assert "--data_dir" in line and "quotes" in line


# ----------------------------------------------------------------------------- errors and start-up


def test_user_errors_are_one_line_and_bugs_keep_their_traceback(capsys):
    def fails_with(error):
        def main(argv):
            del argv
            raise error
        return main

    for error, code in ((errors.OptionError("--x=1: bad"), 2), (OSError(errno.ENOSPC, "No space left on device"), 2),
                        (KeyboardInterrupt(), 130)):
        with pytest.raises(SystemExit) as exit_info:
            command_line.run(fails_with(error), "s-cnn-rnn-x", argv=["s-cnn-rnn-x"])
        assert exit_info.value.code == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("s-cnn-rnn-x: "), lines
    with pytest.raises(ZeroDivisionError):
        command_line.run(fails_with(ZeroDivisionError("a bug")), "s-cnn-rnn-x", argv=["s-cnn-rnn-x"])


def test_only_tensorflow_start_up_notices_are_noise():
    noise = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1795975930.274943    6985 port.cc:153] oneDNN custom operations are on. You may see ...",
        b"I0000 00:00:1795975930.275282    6985 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
        b"GPU will not be used.",
        b"I0000 00:00:1795975930.376697    6985 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
        b"use available CPU instructions in performance-critical operations.",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        b"appropriate compiler flags.",
        b"E0000 00:00:1795975946.029223    7199 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    ]
    kept = [b"W0000 00:00:1795975946.0 7199 op_kernel.cc:1857] OP_REQUIRES failed at decode_image_op.cc",
            b"s-cnn-rnn-train: error: something", b"I1129 18:12:01.000000 140 train.py:1] starting stage cnn"]
    assert all(command_line.is_startup_noise(line) for line in noise)
    assert not any(command_line.is_startup_noise(line) for line in kept)


def _run_quietly(args: list[str], cwd=PROJECT_ROOT) -> subprocess.CompletedProcess:
    """A command as a user runs it: TF_CPP_MIN_LOG_LEVEL unset (conftest sets it for the tests)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_first_line_of_a_command_is_ours_and_a_missing_data_dir_is_one_line(tmp_path):
    completed = _run_quietly(["s_cnn_rnn.train", f"--data_dir={tmp_path / 'absent'}",
                              f"--model_dir={tmp_path / 'model'}", "--backbone=small_cnn", "--backbone_weights=none"])
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr  # TensorFlow was imported: its notices are hidden
    assert lines[0].startswith("s-cnn-rnn-train: error: ") and str(tmp_path / "absent") in lines[0]


def test_a_bad_flag_is_one_line(tmp_path):
    completed = cli_runner.run("data_prep.convert", "--dataset=coco", f"--output_dir={tmp_path}")
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [completed.stderr.strip()]
    assert completed.stderr.startswith("s-cnn-rnn-convert: error: flag --dataset=coco")


def test_offline_imagenet_weights_are_one_line(tiny_synthetic_data, tmp_path):
    completed = cli_runner.run("s_cnn_rnn.train", f"--data_dir={tiny_synthetic_data}", f"--model_dir={tmp_path}",
                               "--backbone=vgg16_pool5", "--backbone_weights=imagenet", "--image_size=32",
                               "--stage=cnn", "--train_steps=1")
    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert lines[0].startswith("s-cnn-rnn-train: error: could not load the ImageNet weights of vgg16")
