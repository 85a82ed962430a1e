"""The contract of every console script: a user's mistake is ONE line `<command>: error: ...`, exit status 2.

Each command runs through its own entry point (`run()`, as the installed script), in this process.
"""

import os

import pytest

import serving_fixtures
from command_runner import run_command
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
    ("s-cnn-rnn-reproduce", "s_cnn_rnn.reproduce.cli", ["--table=4", "--data_dir={tmp}/no_data",
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
def test_every_user_error_is_one_line_and_exit_status_2(command, module, args, paths, capsys):
    done = run_command(module, command, [arg.format(**paths) for arg in args], capsys, entry_point=True)
    assert done.code == 2, (done.out, done.err)
    assert "Traceback" not in done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: "), lines
