"""What a table's rows train and read: a second reading of the same models (Table 2's CNN+logistic), the
captioning rows' head-only phase, flag values read through nested flagfiles, and the pretrained backbone's
checks (`s_cnn_rnn/reproduce/`). No TensorFlow, no training."""

import json
import os

import pytest

from s_cnn_rnn.reproduce import jobs
from s_cnn_rnn.reproduce import pretrained_backbone
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.reproduce import tables
from tests.test_reproduce import FLAGS_DIR

BUDGET = protocol.Budget(cnn_steps=30, decoder_steps=100, joint_steps=20, tags_steps=7, head_steps=10)
MINIATURE = (f"--flagfile={os.path.join(FLAGS_DIR, 'miniature_multilabel.flags')}",)


def _rows(number: int) -> dict:
    return {row.name: row for row in tables.TABLES[number].rows}


def test_table_2_reads_cnn_logistic_twice_from_the_same_models():
    rows = _rows(2)
    top3, threshold = rows["CNN+logistic"], rows["CNN+logistic (p>=0.5)"]
    assert top3.run_key == threshold.run_key == "coco_multilabel_cnn_logistic" and top3.key != threshold.key
    assert tables.TABLES[2].metrics_row(top3) == "concept_top3"
    assert tables.TABLES[2].metrics_row(threshold) == "concept_threshold"
    settings = jobs.Settings(FLAGS_DIR, "/d", "/o", "multilabel", (0,), extra_flags=MINIATURE, budget=BUDGET)
    assert jobs.plan(top3, 0, settings, 3.0).model_dir == jobs.plan(threshold, 0, settings, 3.0).model_dir
    assert [row.name for row in jobs._one_per_run((threshold, top3, rows["Ours"]))] == ["CNN+logistic (p>=0.5)", "Ours"]


def test_the_threshold_reading_trains_nothing_of_its_own(tmp_path, monkeypatch):
    rows = _rows(2)
    chosen = (rows["CNN+logistic"], rows["CNN+logistic (p>=0.5)"])
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "multilabel", (0, 1), extra_flags=MINIATURE,
                             budget=BUDGET)
    executed = []
    monkeypatch.setattr(runner, "execute", lambda run, flags_dir, threads=None: executed.append(run.model_dir) or
                        {"train_seconds": 0, "evaluate_seconds": 0})
    runs = jobs.run_seeds(chosen, settings, {row.key: None for row in chosen}, lambda message: None)
    assert len(runs) == 4 and sorted(executed) == sorted({run.model_dir for _, run in runs})
    assert len(executed) == 2


def test_captioning_rows_get_the_head_only_phase_within_their_image_steps():
    settings = jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (0,), budget=BUDGET)
    caption = _rows(4)
    ours = jobs.plan(caption["Ours"], 0, settings, None).train_command
    assert "--cnn_head_steps=10" in ours and "--cnn_train_steps=20" in ours  # 10 head + 20 all = C
    nic_f = jobs.plan(caption["NIC-F"], 0, settings, None).train_command
    assert "--cnn_head_steps=0" in nic_f and "--joint_train_steps=50" in nic_f  # no stage 1: no head phase
    labels = jobs.Settings(FLAGS_DIR, "/d", "/o", "multilabel", (0,), budget=BUDGET)
    assert "--cnn_head_steps=0" in jobs.plan(_rows(1)["Ours"], 0, labels, None).train_command
    with pytest.raises(ValueError, match="budget_head_steps"):
        protocol.Budget(cnn_steps=30, decoder_steps=1, joint_steps=1, tags_steps=1, head_steps=30)


def test_flag_values_are_read_through_nested_flagfiles_later_winning(tmp_path):
    flags_dir = tmp_path / "flags"
    flags_dir.mkdir()
    (flags_dir / "base.flags").write_text("--image_size=64\n--backbone=small_cnn\n", encoding="utf-8")
    (flags_dir / "row.flags").write_text("--image_size=32\n--flagfile=base.flags\n--small_cnn_width=8\n",
                                         encoding="utf-8")
    arguments = [f"--flagfile={flags_dir / 'row.flags'}", "--small_cnn_width=16"]
    assert runner.flag_value(str(flags_dir), arguments, "image_size") == "64"  # the include came later
    assert runner.flag_value(str(flags_dir), arguments, "small_cnn_width") == "16"
    assert runner.flag_value(str(flags_dir), arguments, "lstm_units") is None
    with pytest.raises(FileNotFoundError, match="nope.flags"):
        runner.flag_value(str(flags_dir), ["--flagfile=nope.flags"], "image_size")


def _planned(tmp_path, *extra) -> list:
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "multilabel", (0,), extra_flags=MINIATURE + extra,
                             budget=BUDGET, pretrained_backbone=str(tmp_path / "bb.weights.h5"))
    return [jobs.plan(row, 0, settings, None) for row in tables.TABLES[1].rows]


def test_every_row_starts_from_the_pretrained_backbone_after_the_users_flags(tmp_path):
    for run in _planned(tmp_path, "--backbone_weights=none"):
        command = run.train_command
        assert command.index(f"--backbone_weights={tmp_path / 'bb.weights.h5'}") > command.index(
            "--backbone_weights=none")
    assert pretrained_backbone.backbone_settings(FLAGS_DIR, _planned(tmp_path)) == {
        "backbone": "small_cnn", "image_size": "64", "small_cnn_width": "32"}


def test_an_existing_backbone_file_must_fit_the_rows(tmp_path):
    weights = tmp_path / "bb.weights.h5"
    weights.write_bytes(b"weights")
    runs = _planned(tmp_path)
    with pytest.raises(ValueError, match="has no report"):
        pretrained_backbone.ensure(str(weights), FLAGS_DIR, runs, print)
    report = {"backbone": "small_cnn", "image_size": 32, "small_cnn_width": 32, "heldout_top1": 0.9}
    (tmp_path / "bb.json").write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(ValueError, match="image_size 32 here 64"):
        pretrained_backbone.ensure(str(weights), FLAGS_DIR, runs, print)
    (tmp_path / "bb.json").write_text(json.dumps({**report, "image_size": 64}), encoding="utf-8")
    assert pretrained_backbone.ensure(str(weights), FLAGS_DIR, runs, print)["heldout_top1"] == 0.9
    with pytest.raises(ValueError, match="makes a small_cnn backbone"):
        pretrained_backbone.ensure(str(weights), FLAGS_DIR, _planned(tmp_path, "--backbone=vgg16"), print)
    with pytest.raises(ValueError, match="ending in .weights.h5"):
        pretrained_backbone.ensure(str(tmp_path / "bb.h5"), FLAGS_DIR, runs, print)


def test_a_missing_backbone_is_made_once_at_the_rows_settings(tmp_path, monkeypatch):
    weights = tmp_path / "made" / "bb.weights.h5"
    commands = []

    def fake_pretraining(command, log_path, cwd, threads):  # what s-cnn-rnn-pretrain-backbone leaves
        commands.append(command)
        weights.write_bytes(b"weights")
        report = {"backbone": "small_cnn", "image_size": 64, "small_cnn_width": 32, "heldout_top1": 0.8}
        (tmp_path / "made" / "bb.json").write_text(json.dumps(report), encoding="utf-8")
        return 1.0, 1.0

    monkeypatch.setattr(runner, "run_logged", fake_pretraining)
    runs = _planned(tmp_path)
    for _ in range(2):  # the second table finds it and reuses it
        assert pretrained_backbone.ensure(str(weights), FLAGS_DIR, runs, lambda line: None)["heldout_top1"] == 0.8
    assert len(commands) == 1
    assert commands[0][:2] == ("-m", pretrained_backbone.PRETRAIN_MODULE)
    assert {"--backbone=small_cnn", "--image_size=64", "--small_cnn_width=32", "--seed=0",
            f"--output={weights}"} <= set(commands[0])
