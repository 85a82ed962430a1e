"""`s-cnn-rnn-reproduce --protocol=fair` end to end on the built-in dataset: a pretrained backbone, the
learning-rate grid at the selection seed, the table beside the paper, the claims' verdicts, the efficiency
curves, skip and resume. On Table 1 (multi-label): the runner, the protocol and the table do not depend on
the task, and greedy label decoding costs a fraction of beam search and caption scoring (the caption
specifics are unit-tested: METEOR n/a without Java in `test_reproduce.py`, the selection metric and the
image steps of a decoder stage in `test_reproduce.py` and `test_efficiency.py`)."""


import json
import shutil

import pytest

from s_cnn_rnn import pretrained_weights
from s_cnn_rnn.pretrain_options import PretrainOptions
from s_cnn_rnn.reproduce import paper_results
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import runner
from tests.test_reproduce import TINY_FLAGS, run_reproduce


def test_table_1_fair_protocol_end_to_end_with_lr_grid_skip_and_resume(tiny_synthetic_data, tmp_path):
    """Two rows of Table 1 under the fair protocol, two jobs at a time, through a one-point learning-rate
    grid at the selection seed (its folders, the rate factor and lr_selection.json; the choice among several
    factors is `test_the_grid_keeps_each_row_its_best_factor_on_validation`'s), and the claims' verdicts."""
    output_dir = tmp_path / "table1"
    # Every row starts from one pretrained backbone (here a tiny one, made in this process; the table
    # checks that it fits the rows' backbone and hands it to every training).
    backbone = tmp_path / "backbone" / "small_cnn_32.weights.h5"
    pretrained_weights.make_backbone_weights(str(backbone), PretrainOptions(
        image_size=32, small_cnn_width=8, render_size=32, num_train_images=37, num_heldout_images=37,
        train_steps=2, batch_size=8), log=lambda line: None)
    args = ("--table=1", f"--data_dir={tiny_synthetic_data}", f"--output_dir={output_dir}", "--protocol=fair",
            "--budget_cnn_steps=1", "--budget_decoder_steps=2", "--budget_joint_steps=1", "--budget_head_steps=0",
            "--lr_grid=2", "--rows=CNN+logistic,Ours", "--seeds=0", "--parallel=2", *TINY_FLAGS[:-1],
            "--validate_every=1", "--validation_steps=1", "--validation_decode_examples=8",
            f"--pretrained_backbone={backbone}")
    no_java = tmp_path / "no_java_bin"
    no_java.mkdir()
    done = run_reproduce(*args, no_java_dir=no_java)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((output_dir / "table1.json").read_text())
    rows = {record["name"]: record for record in result["rows"]}
    assert list(rows) == ["CNN+logistic", "Ours"]  # the paper's order
    assert f"pretrained backbone {backbone}: held-out top-1" in done.stdout
    for key in ("nuswide_cnn_logistic", "nuswide_ours"):
        for seed_dir in (output_dir / key / "lr2").iterdir():
            train_command = json.loads((seed_dir / runner.RUN_FILE).read_text())["train"]
            weights = [arg for arg in train_command if arg.startswith("--backbone_weights=")]
            assert weights[-1] == f"--backbone_weights={backbone}", seed_dir  # after the user's =none
    assert result["settings"]["budget"] == {"cnn_steps": 1, "decoder_steps": 2, "joint_steps": 1,
                                            "tags_steps": 150, "head_steps": 0}
    for name, record in rows.items():
        assert record["status"] == "done" and record["seeds"] == [0]
        assert record["paper"] == paper_results.PAPER_RESULTS[1][name]
        for column in ("O-F1", "C-F1", "O-P", "C-R"):
            assert 0.0 <= record["mean"][column] <= 100.0
            assert record["minus_paper"][column] == pytest.approx(record["mean"][column] - record["paper"][column])
        # The factor kept is the one that scored best on validation, and the table was trained with it.
        selection = record["lr_selection"]
        metric = "val_O-F1" if name == "Ours" else "val_concept_O-F1"  # CNN+logistic has no decoder
        assert selection["metric"] == metric and set(selection["scores"]) == {"2"}
        assert selection["chosen"] == protocol.pick({float(k): v for k, v in selection["scores"].items()})
        assert (output_dir / record["key"] / f"lr{selection['chosen']:g}" / "seed0" / "eval_test" /
                "metrics.json").is_file()
        # The grid trained at the selection seed, never a test seed.
        assert selection["seed"] == 100 and result["settings"]["selection_seed"] == 100
        assert (output_dir / record["key"] / f"lr{selection['chosen']:g}" / "seed100" / runner.TIMING_FILE).is_file()
    assert rows["CNN+logistic"]["paired_minus_reference"]["O-F1"]["per_seed"]["0"] == pytest.approx(
        rows["CNN+logistic"]["mean"]["O-F1"] - rows["Ours"]["mean"]["O-F1"])
    # A verdict per claim and metric: one seed gives no test; the rows not selected are "not run".
    verdicts = {(verdict["claim"], verdict["metric"]): verdict for verdict in result["verdicts"]}
    assert len(verdicts) == 10 and verdicts[("t1_ours_vs_cnn_logistic", "O-F1")]["verdict"] == "not separated"
    assert verdicts[("t1_ours_vs_cnn_logistic", "O-F1")]["mean_difference"] == pytest.approx(
        rows["Ours"]["mean"]["O-F1"] - rows["CNN+logistic"]["mean"]["O-F1"])
    assert verdicts[("t1_ours_vs_ria", "O-F1")]["verdict"] == "not run"
    assert "Table 1 claims: 0 reproduced, 2 not separated, 0 contradicted, 8 not run" in done.stdout
    # The budget reached the trainer: every CNN 1 + 1 image steps, every decoder 2 updates first.
    def stage_steps(key, factor):
        model_dir = output_dir / key / f"lr{factor}" / "seed0"
        return {stage.name: max(json.loads(line)["step"] for line in stage.joinpath("history.jsonl").read_text().splitlines())
                for stage in sorted(model_dir.iterdir()) if stage.joinpath("history.jsonl").is_file()}
    assert stage_steps("nuswide_ours", "2") == {"cnn": 1, "rnn": 2, "joint": 1}
    assert stage_steps("nuswide_cnn_logistic", "2") == {"cnn": 2}
    rnn_history = (output_dir / "nuswide_ours" / "lr2" / "seed0" / "rnn" / "history.jsonl").read_text()
    learning_rates = [record["learning_rate"] for record in map(json.loads, rnn_history.splitlines())
                      if "learning_rate" in record]  # validation-only records carry none
    assert learning_rates[0] == pytest.approx(2 * 1e-4)  # x2 of the flagfile's rnn rate
    # The efficiency curves: Ours' rnn stage costs seconds but no image steps.
    assert (rows["Ours"]["efficiency"]["image_steps"], rows["CNN+logistic"]["efficiency"]["image_steps"]) == (2, 2)
    for name, record in rows.items():
        cost = record["efficiency"]
        assert 0 < cost["seconds_to_90"] <= cost["total_wall_seconds"]
        assert 0 < cost["cpu_seconds_to_90"] <= cost["total_cpu_seconds"]
        # The final stage from its step 0 (validated there: what the earlier stages handed over).
        assert cost["stage"] == ("joint" if name == "Ours" else "cnn")
        assert cost["per_seed"][0]["stage_steps_to_90"] in (0, 1, 2)
    assert "| Ours | joint |" in (output_dir / "table1.md").read_text()
    assert (output_dir / "table1_efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (output_dir / "table1.md").read_text()
    o_f1 = rows["Ours"]["mean"]["O-F1"]
    assert f"{o_f1:.2f} (70.96; {o_f1 - 70.96:+.2f})" in markdown and markdown in done.stdout
    assert "fair protocol (every CNN 1+1 image steps, every decoder 2 updates" in markdown
    assert (output_dir / "table1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A rerun trains nothing: every run is finished.
    again = run_reproduce(*args, no_java_dir=no_java)
    assert again.returncode == 0 and ": training" not in again.stdout
    assert again.stdout.count("trained earlier") == 2 and again.stdout.count("finished earlier") == 2
    assert json.loads((output_dir / "table1.json").read_text())["rows"] == result["rows"]

    # A run killed in its last stage (no timing.json, no joint checkpoint, no metrics.json) is resumed,
    # and only it: its finished cnn and rnn stages are kept, the joint stage trains again.
    factor = f"{rows['Ours']['lr_selection']['chosen']:g}"
    interrupted = output_dir / "nuswide_ours" / f"lr{factor}" / "seed0"
    for path in ("eval_test", "joint"):
        shutil.rmtree(interrupted / path)
    (interrupted / runner.TIMING_FILE).unlink()
    kept = {stage: (interrupted / stage / "checkpoints" / "checkpoint").read_text() for stage in ("cnn", "rnn")}
    resumed = run_reproduce(*args, no_java_dir=no_java)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert resumed.stdout.count("finished earlier") == 1 and resumed.stdout.count("trained earlier") == 2
    assert f"row Ours (nuswide_ours) lr x{factor} seed 0: training and evaluating in" in resumed.stdout
    assert (interrupted / "eval_test" / "metrics.json").is_file() and (interrupted / "joint" / "history.jsonl").is_file()
    assert kept == {stage: (interrupted / stage / "checkpoints" / "checkpoint").read_text() for stage in ("cnn", "rnn")}

    # Other settings in the same output dir are refused before any work.
    other = run_reproduce(*args[:-1], "--validation_decode_examples=4", no_java_dir=no_java)
    assert other.returncode == 2 and "was trained with other train" in other.stderr
