"""The fair protocol's runs: deterministic, and a learning-rate factor whose loss diverges is left out of the
choice instead of stopping the table (`s_cnn_rnn/reproduce/jobs.py`, `protocol.py`)."""

import json
import os

import pytest

from s_cnn_rnn import errors
from s_cnn_rnn.reproduce import jobs
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.reproduce import tables
from tests.test_reproduce import BUDGET, FLAGS_DIR

CAPTION_ROWS = {row.name: row for row in tables.TABLES[4].rows}


def test_fair_runs_are_deterministic_and_the_flagfile_protocol_leaves_it_to_the_user():
    extra = ("--image_size=32",)
    fair = jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (0,), extra_flags=extra, budget=BUDGET)
    command = jobs.plan(CAPTION_ROWS["Ours"], 0, fair, 1.0).train_command
    # After the user's flags, so that no flagfile or extra flag turns it off.
    assert command.index("--deterministic") > command.index("--image_size=32")
    as_flagfiles = jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (0,), extra_flags=extra)
    assert "--deterministic" not in jobs.plan(CAPTION_ROWS["Ours"], 0, as_flagfiles, None).train_command
    for flag in ("--nodeterministic", "--deterministic=false", "--deterministic"):
        with pytest.raises(ValueError, match="every run is --deterministic"):
            protocol.check_extra_flags([flag])


def test_pick_leaves_out_diverged_factors():
    assert protocol.pick({0.3: 0.5, 1.0: 0.4, 10.0: None}) == 0.3
    with pytest.raises(ValueError, match=r"every factor of the lr grid \(x3, x10\) diverged"):
        protocol.pick({3.0: None, 10.0: None})


def _finish(run, stage: str, metric: str, value: float) -> None:
    """What a finished training leaves: its best.json and timing.json."""
    os.makedirs(os.path.join(run.model_dir, stage, "best"))
    with open(os.path.join(run.model_dir, stage, "best", "best.json"), "w", encoding="utf-8") as handle:
        json.dump({"metric": metric, "value": value}, handle)
    with open(os.path.join(run.model_dir, runner.TIMING_FILE), "w", encoding="utf-8") as handle:
        json.dump({"train_seconds": 1.0}, handle)


def test_a_diverged_grid_run_is_recorded_never_chosen_and_not_retrained(tmp_path, monkeypatch):
    rows = (CAPTION_ROWS["Ours"], CAPTION_ROWS["NIC-F"])
    metric = protocol.selection_metric("caption", rows[0].stages)
    scores = {("coco_caption_ours", 1.0): 0.50, ("coco_caption_ours", 10.0): None,
              ("coco_caption_nic_f", 1.0): 0.30, ("coco_caption_nic_f", 10.0): 0.35}
    trained = []

    def fake_train(run, flags_dir, threads=None):
        factor = float(os.path.basename(os.path.dirname(run.model_dir))[2:])
        trained.append((run.row_key, factor))
        os.makedirs(run.model_dir, exist_ok=True)
        if scores[(run.row_key, factor)] is None:  # what s-cnn-rnn-train's log ends with when a loss diverges
            with open(os.path.join(run.model_dir, runner.TRAIN_LOG), "w", encoding="utf-8") as log:
                log.write(f"s-cnn-rnn-train: error: stage rnn: {errors.NON_FINITE_LOSS} at step 7; training stopped.\n")
            raise runner.RunError("`s_cnn_rnn.train` failed (exit 2)")
        _finish(run, rows[0].stages[-1], metric, scores[(run.row_key, factor)])
        return 1.0

    monkeypatch.setattr(runner, "train", fake_train)
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "caption", (0,), lr_grid=(1.0, 10.0), budget=BUDGET)
    lines = []
    assert jobs.select_learning_rates(rows, settings, lines.append) == {"coco_caption_ours": 1.0,
                                                                        "coco_caption_nic_f": 10.0}
    selection = json.loads((tmp_path / "coco_caption_ours" / protocol.SELECTION_FILE).read_text())
    assert selection["scores"] == {"1": 0.5, "10": None} and selection["chosen"] == 1.0
    assert "row Ours: lr x1 chosen by val_CIDEr_pytok (x1 0.5000, x10 diverged)" in lines
    assert any("row Ours lr x10 seed 0: the loss diverged" in line for line in lines)
    # A rerun trains nothing: the diverged run stays diverged (retraining it would diverge again).
    trained.clear()
    assert jobs.select_learning_rates(rows, settings, lines.append)["coco_caption_ours"] == 1.0
    assert trained == []
    assert any("row Ours lr x10 seed 0: diverged earlier" in line for line in lines)


def test_a_grid_run_that_fails_otherwise_stops_the_table(tmp_path, monkeypatch):
    def failing_train(run, flags_dir, threads=None):
        os.makedirs(run.model_dir, exist_ok=True)
        with open(os.path.join(run.model_dir, runner.TRAIN_LOG), "w", encoding="utf-8") as log:
            log.write("Traceback (most recent call last):\nZeroDivisionError: division by zero\n")
        raise runner.RunError("`s_cnn_rnn.train` failed (exit 1)")

    monkeypatch.setattr(runner, "train", failing_train)
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "caption", (0,), lr_grid=(1.0,), budget=BUDGET)
    with pytest.raises(runner.RunError, match="exit 1"):
        jobs.select_learning_rates((CAPTION_ROWS["Ours"],), settings, lambda line: None)
