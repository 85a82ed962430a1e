"""The contract of every console script: a user's mistake is ONE line `<command>: error: ...`, exit status 2.

Each command runs as `python -m MODULE` would, in this process (tests/cli_runner.py).
"""

import os

import pytest

import serving_fixtures
from tests import cli_runner
from s_cnn_rnn.reproduce import runner

# (console script, module, a command line with a mistake the user can fix: {tmp}, {data}, {model} filled in)
MISTAKES = [
    ("s-cnn-rnn-convert", "data_prep.convert", ["--dataset=coco_captions", "--output_dir={tmp}/out"]),
    ("s-cnn-rnn-train", "s_cnn_rnn.train", ["--data_dir={tmp}/no_data", "--model_dir={tmp}/model"]),
    ("s-cnn-rnn-score-captions", "s_cnn_rnn.score_captions", ["--references={tmp}/no.json", "--results={tmp}/no.json"]),
    ("s-cnn-rnn-evaluate", "s_cnn_rnn.evaluate", ["--model_dir={tmp}/no_model", "--data_dir={data}"]),
    ("s-cnn-rnn-evaluate", "s_cnn_rnn.evaluate", ["--model_dir={model}", "--data_dir={tmp}/no_data"]),
    ("s-cnn-rnn-evaluate", "s_cnn_rnn.evaluate", ["--model_dir={model}", "--data_dir={other_data}"]),
    ("s-cnn-rnn-predict", "s_cnn_rnn.predict", ["--model_dir={tmp}/no_model", "{tmp}/photo.jpg"]),
    ("s-cnn-rnn-export", "s_cnn_rnn.export", ["--model_dir={tmp}/no_model", "--export_dir={tmp}/export"]),
    ("s-cnn-rnn-demo", "s_cnn_rnn.demo", ["--output_dir={tmp}/a_file"]),
    ("s-cnn-rnn-reproduce", "s_cnn_rnn.reproduce", ["--table=4", "--data_dir={tmp}/no_data",
                                                        "--output_dir={tmp}/table"]),
]


@pytest.fixture(scope="module")
def paths(tiny_synthetic_data, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("exit_codes")
    (folder / "a_file").write_text("not a folder\n")
    other = folder / "other_data"  # the same records with another word vocabulary
    import shutil  # pylint: disable=import-outside-toplevel
    shutil.copytree(tiny_synthetic_data, other)
    with open(other / "vocab" / "words.txt", "a", encoding="utf-8") as handle:
        handle.write("zzzextra\t1\n")
    model = serving_fixtures.make_model_dir(tiny_synthetic_data, str(folder / "model"), "caption")
    return {"tmp": str(folder), "data": tiny_synthetic_data, "model": model, "other_data": str(other)}


@pytest.mark.parametrize("command, module, args", MISTAKES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(MISTAKES)])
def test_every_user_error_is_one_line_and_exit_status_2(command, module, args, paths):
    done = cli_runner.run(module, *[arg.format(**paths) for arg in args])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: "), lines


def test_a_full_disk_in_a_tensorflow_save_is_one_line(capsys):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn import command_line  # pylint: disable=import-outside-toplevel

    def saves_to_a_full_disk(argv):
        del argv
        # What SaveV2 raises (checkpoint or SavedModel variables) when the disk fills up.
        raise tf.errors.ResourceExhaustedError(
            None, None, "{{function_node __wrapped__SaveV2_dtypes_4_device_/job:localhost}} /out/variables/"
            "variables_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; No space left on device [Op:SaveV2]")

    with pytest.raises(SystemExit) as exit_info:
        command_line.run(saves_to_a_full_disk, "s-cnn-rnn-export", argv=["s-cnn-rnn-export"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s-cnn-rnn-export: error: /out/variables/"), lines
    assert "No space left on device: the disk is full" in lines[0] and "[Op:" not in lines[0]

    def runs_out_of_memory(argv):  # the same error type for memory is not the user's disk: it keeps its traceback
        del argv
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4096,4096]")

    with pytest.raises(tf.errors.ResourceExhaustedError):
        command_line.run(runs_out_of_memory, "s-cnn-rnn-train", argv=["s-cnn-rnn-train"])
