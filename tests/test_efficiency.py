"""Score against training cost: whole runs laid end to end, the final stage from its step 0, the
first point reaching 90% of the best score, CPU seconds that charge every pass, and a scaled stage
that validates at most about 20 times.

Hand-written histories check the arithmetic exactly; tiny trainings check what the trainer records
(the clocks, their resume, the step-0 validation that is never the best).
"""

import dataclasses
import json
import os
import time

import pytest

from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.reproduce import efficiency
from s_cnn_rnn.reproduce import render
from s_cnn_rnn.reproduce import tables as tables_lib

# Ours (captions): cnn 100 image steps in 20 s (30 CPU s), rnn 200 image-free steps in 5 s (6 CPU s),
# joint 20 steps in 9 s (12 CPU s); the joint stage's step 0 scores the hand-over.
OURS = {
    "cnn": [{"step": 0, "wall_seconds": 1.0, "cpu_seconds": 1.5, "val_concept_O-F1": 0.1},
            {"step": 50, "wall_seconds": 10.0, "cpu_seconds": 15.0},
            {"step": 100, "wall_seconds": 20.0, "cpu_seconds": 30.0, "validation_wall_seconds": 3.0,
             "val_concept_O-F1": 0.3}],
    "rnn": [{"step": 100, "wall_seconds": 2.5, "cpu_seconds": 3.0},
            {"step": 200, "wall_seconds": 5.0, "cpu_seconds": 6.0, "val_loss": 1.0}],
    "joint": [{"step": 0, "wall_seconds": 2.0, "cpu_seconds": 2.0, "val_CIDEr_pytok": 0.2},
              {"step": 10, "wall_seconds": 6.0, "cpu_seconds": 7.0, "val_CIDEr_pytok": 0.5},
              {"step": 20, "wall_seconds": 9.0, "cpu_seconds": 12.0, "val_CIDEr_pytok": 0.6}],
}
# NIC-F: a decoder stage of 40 steps through the frozen CNN (its forward passes cost 50 CPU s), then joint.
NIC_F = {"decoder": [{"step": 0, "wall_seconds": 1.0, "cpu_seconds": 1.0, "val_CIDEr_pytok": 0.05},
                     {"step": 40, "wall_seconds": 30.0, "cpu_seconds": 50.0, "val_CIDEr_pytok": 0.1}],
         "joint": [{"step": 0, "wall_seconds": 1.0, "cpu_seconds": 1.0, "val_CIDEr_pytok": 0.1},
                   {"step": 20, "wall_seconds": 11.0, "cpu_seconds": 20.0, "val_CIDEr_pytok": 0.4}]}


def _model_dir(path, histories: dict, variant="s_cnn_rnn", task="caption") -> str:
    os.makedirs(path, exist_ok=True)
    model_dir_lib.save_config(str(path), {"variant": variant, "use_tags": False, "task": task})
    for stage, records in histories.items():
        os.makedirs(os.path.join(path, stage), exist_ok=True)
        with open(model_dir_lib.history_path(str(path), stage), "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record) + "\n" for record in records)
    return str(path)


def test_stages_are_laid_end_to_end_and_image_free_stages_add_seconds_only(tmp_path):
    curve = efficiency.read_curve(_model_dir(tmp_path / "ours", OURS), "val_CIDEr_pytok")
    # joint's points start after cnn (20 s, 30 CPU s, 100 image steps) and rnn (5 s, 6 CPU s, no image step).
    assert curve.wall_seconds == (27.0, 31.0, 34.0)
    assert curve.cpu_seconds == (38.0, 43.0, 48.0)
    assert curve.image_steps == (100, 110, 120)
    assert curve.values == (0.2, 0.5, 0.6)
    assert list(curve.stages) == ["cnn", "rnn", "joint"]
    assert curve.stages["rnn"] == {"wall_seconds": 5.0, "validation_wall_seconds": 0.0, "cpu_seconds": 6.0,
                                   "steps": 200, "image_steps": 0}
    assert curve.stages["cnn"]["validation_wall_seconds"] == 3.0
    assert (curve.total_wall_seconds, curve.total_cpu_seconds, curve.total_image_steps) == (34.0, 48.0, 120)
    concept = efficiency.read_curve(str(tmp_path / "ours"), "val_concept_O-F1")
    assert concept.wall_seconds == (1.0, 20.0) and concept.image_steps == (0, 100)


def test_the_final_stage_curve_starts_at_its_own_step_0(tmp_path):
    final = efficiency.read_curve(_model_dir(tmp_path / "ours", OURS), "val_CIDEr_pytok").final_stage
    assert final == efficiency.StageCurve("joint", (0, 10, 20), (2.0, 6.0, 9.0), (2.0, 7.0, 12.0), (0.2, 0.5, 0.6))
    numbers = efficiency.seed_numbers(efficiency.read_curve(str(tmp_path / "ours"), "val_CIDEr_pytok"), 0.3)
    # The hand-over already scores 0.2 >= 0.3 x 0.6: reached at the joint stage's step 0, its setup cost.
    assert (numbers["stage"], numbers["stage_steps_to_30"], numbers["stage_cpu_seconds_to_30"]) == ("joint", 0, 2.0)
    logistic = efficiency.read_curve(_model_dir(tmp_path / "logistic", {"cnn": OURS["cnn"]}, "cnn_logistic",
                                                "multilabel"), "val_concept_O-F1")
    assert logistic.final_stage.stage == "cnn" and logistic.final_stage.steps == (0, 100)


def test_90_percent_of_the_best_score_not_of_the_last(tmp_path):
    overfit = dict(OURS, joint=OURS["joint"] + [
        {"step": 30, "wall_seconds": 12.0, "cpu_seconds": 16.0, "val_CIDEr_pytok": 0.3}])  # falls after its best
    curve = efficiency.read_curve(_model_dir(tmp_path / "ours", overfit), "val_CIDEr_pytok")
    # 90% of the best 0.6 is 0.54: first reached at joint step 20 (90% of the last, 0.27, at step 10).
    assert efficiency.first_reaching(curve.values, 0.9) == 2
    at_80 = efficiency.seed_numbers(curve, 0.8)
    numbers = efficiency.seed_numbers(curve)
    assert numbers["seconds_to_90"] == 34.0
    assert at_80["seconds_to_80"] == 31.0   # 0.5 >= 0.48
    assert at_80["image_steps_to_80"] == 110
    assert (numbers["best"], numbers["final"]) == (0.6, 0.3)
    assert (numbers["cpu_seconds_to_90"], numbers["stage_steps_to_90"], numbers["stage_cpu_seconds_to_90"]) == (
        48.0, 20, 12.0)


def test_cpu_seconds_charge_the_frozen_cnn_decoder_stage_and_image_steps_follow_their_rule(tmp_path):
    ours = efficiency.read_curve(_model_dir(tmp_path / "ours", OURS), "val_CIDEr_pytok")
    nic = efficiency.read_curve(_model_dir(tmp_path / "nic", NIC_F, "nic_f"), "val_CIDEr_pytok")
    # The decoder stage's 40 frozen-CNN steps are 40 image steps and their 50 CPU s; joint follows them.
    assert nic.image_steps == (0, 40, 40, 60) and nic.cpu_seconds == (1.0, 50.0, 51.0, 70.0)
    assert (nic.total_cpu_seconds, nic.total_image_steps) == (70.0, 60)
    # The rnn stage reads no image but its 6 CPU s are charged.
    assert ours.total_cpu_seconds == 30.0 + 6.0 + 12.0 and ours.stages["rnn"]["image_steps"] == 0
    table = efficiency.summary({"Ours": [ours], "NIC-F": [nic]})
    assert table["NIC-F"]["total_cpu_seconds"] == 70.0 and table["NIC-F"]["cpu_seconds_to_90"] == 70.0
    assert table["NIC-F"]["stage_steps_to_90"] == 20 and table["Ours"]["stage_steps_to_90"] == 20
    assert table["Ours"]["image_step_rule"] == efficiency.IMAGE_STEP_RULE


def test_a_missing_metric_gives_an_empty_curve_and_none(tmp_path):
    curve = efficiency.read_curve(_model_dir(tmp_path / "ours", OURS), "val_O-F1")
    assert curve.values == () and curve.total_wall_seconds == 34.0
    assert efficiency.seed_numbers(curve)["seconds_to_90"] is None
    row = efficiency.summary({"Ours": [curve]})["Ours"]
    assert row["seconds_to_90"] is None and row["final"] is None and row["total_wall_seconds"] == 34.0
    assert row["stage_steps_to_90"] is None


def test_histories_without_cpu_seconds_leave_that_cost_unknown(tmp_path):
    older = {stage: [{key: value for key, value in record.items() if key != "cpu_seconds"} for record in records]
             for stage, records in OURS.items()}
    curve = efficiency.read_curve(_model_dir(tmp_path / "older", older), "val_CIDEr_pytok")
    assert curve.cpu_seconds == (None, None, None) and curve.total_cpu_seconds is None
    row = efficiency.summary({"Ours": [curve]})["Ours"]
    assert row["total_cpu_seconds"] is None and row["stage_cpu_seconds_to_90"] is None
    assert row["total_wall_seconds"] == 34.0 and row["stage_steps_to_90"] == 20
    efficiency.write_figure({"Ours": [curve]}, str(tmp_path / "older.png"), "validation CIDEr")  # no crash
    records = [{"name": "Ours", "efficiency": row}]
    lines = render._efficiency_lines(tables_lib.TABLES[4], records)  # pylint: disable=protected-access
    assert lines[-1].startswith("| Ours | joint | 0.600 | 20 | n/a | n/a | n/a | 34.0 | 120 |"), lines[-1]


def test_summary_means_over_seeds_renders_and_one_png(tmp_path):
    slower = {stage: [dict(r, wall_seconds=2 * r["wall_seconds"], cpu_seconds=2 * r["cpu_seconds"]) for r in records]
              for stage, records in OURS.items()}
    curves = {"Ours": [efficiency.read_curve(_model_dir(tmp_path / name, histories), "val_CIDEr_pytok")
                       for name, histories in (("seed0", OURS), ("seed1", slower))],
              "NIC-F": [efficiency.read_curve(_model_dir(tmp_path / "nic", NIC_F, "nic_f"), "val_CIDEr_pytok")]}
    table = efficiency.summary(curves)
    assert table["Ours"]["seconds_to_90"] == pytest.approx((34.0 + 68.0) / 2)
    assert table["Ours"]["seconds_to_90_std"] == pytest.approx(24.0416, rel=1e-4)
    assert table["Ours"]["stage_cpu_seconds_to_90"] == pytest.approx(18.0)
    assert table["Ours"]["stage_cpu_seconds_to_90_std"] == pytest.approx(8.4853, rel=1e-4)
    assert table["Ours"]["best"] == pytest.approx(0.6) and table["Ours"]["seeds"] == 2
    assert table["Ours"]["image_steps"] == 120 and table["Ours"]["image_steps_to_90"] == 120
    assert table["Ours"]["stage"] == "joint" and table["Ours"]["stage_steps_to_90_std"] == 0.0
    assert table["NIC-F"]["seconds_to_90"] == 41.0 and table["NIC-F"]["total_wall_seconds"] == 41.0
    assert [seed["seconds_to_90"] for seed in table["Ours"]["per_seed"]] == [34.0, 68.0]
    lines = render._efficiency_lines(  # pylint: disable=protected-access
        tables_lib.TABLES[4], [{"name": name, "efficiency": record} for name, record in table.items()])
    assert lines[-2] == ("| Ours | joint | 0.600±0.000 | 20±0 | 18.0±8.5 | 72.0±33.9 | 72.0±33.9 | 51.0±24.0 | "
                         "120±0 |")
    assert efficiency.IMAGE_STEP_RULE in lines[1]
    curves["CNN+logistic"] = [efficiency.read_curve(str(tmp_path / "nic"), "val_O-F1")]  # no points: listed
    path = efficiency.write_figure(curves, str(tmp_path / "figure" / "efficiency.png"), "validation CIDEr")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "figure") == ["efficiency.png"]  # no temporary left


def test_histories_that_cannot_be_laid_end_to_end_are_refused(tmp_path):
    without_rnn = {stage: records for stage, records in OURS.items() if stage != "rnn"}
    with pytest.raises(efficiency.EfficiencyError, match=r"rnn have no history\.jsonl but joint has one"):
        efficiency.read_curve(_model_dir(tmp_path / "gap", without_rnn), "val_CIDEr_pytok")
    old = dict(OURS, joint=[{"step": 20, "val_CIDEr_pytok": 0.6}])
    with pytest.raises(efficiency.EfficiencyError, match=r"joint/history\.jsonl has records without 'wall_seconds'"):
        efficiency.read_curve(_model_dir(tmp_path / "old", old), "val_CIDEr_pytok")
    # An unfinished run (joint not started yet) is a shorter curve, not an error.
    unfinished = efficiency.read_curve(_model_dir(tmp_path / "unfinished", {"cnn": OURS["cnn"]}), "val_CIDEr_pytok")
    assert unfinished.values == () and list(unfinished.stages) == ["cnn"]


def test_metric_for_each_task_and_variant(tmp_path):
    assert efficiency.metric_for(_model_dir(tmp_path / "a", {}), "caption") == "val_CIDEr_pytok"
    assert efficiency.metric_for(_model_dir(tmp_path / "b", {}, task="multilabel"), "multilabel") == "val_O-F1"
    logistic = _model_dir(tmp_path / "c", {}, variant="cnn_logistic", task="multilabel")
    assert efficiency.metric_for(logistic, "multilabel") == "val_concept_O-F1"


def test_stage_clock_continues_from_the_resumed_record(tmp_path):
    from s_cnn_rnn.training import history as history_lib  # pylint: disable=import-outside-toplevel

    path = str(tmp_path / "history.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for step, seconds in ((1, 4.0), (2, 7.0), (3, 9.0)):
            handle.write(json.dumps({"step": step, "wall_seconds": seconds, "validation_wall_seconds": 1.0}) + "\n")
    writer = history_lib.HistoryWriter(path, resume_step=2)
    writer.close()
    assert writer.resumed["step"] == 2
    clock = history_lib.StageClock(time.perf_counter() - 5.0, writer.resumed)
    with clock.validating():
        time.sleep(0.05)
    stamp = clock.stamp()
    assert 7.0 + 5.0 - 0.06 < stamp["wall_seconds"] < 7.0 + 5.0 + 1.0  # validation left out
    assert 1.05 <= stamp["validation_wall_seconds"] < 2.0
    assert history_lib.HistoryWriter(path).resumed == {}  # a fresh stage starts its clock at 0
    # Resumed from records without CPU seconds (an older s_cnn_rnn): that cost stays unknown.
    assert "cpu_seconds" not in stamp


def test_stage_clock_counts_cpu_seconds_of_training_not_of_waiting_or_validating():
    from s_cnn_rnn.training import history as history_lib  # pylint: disable=import-outside-toplevel

    def spin(seconds):
        until = time.process_time() + seconds
        while time.process_time() < until:
            pass

    clock = history_lib.StageClock(time.perf_counter(), {"wall_seconds": 1.0, "cpu_seconds": 2.0})
    spin(0.2)         # training: charged
    time.sleep(0.2)   # waiting on nothing: wall seconds only
    with clock.validating():
        spin(0.2)     # validating: not charged
    stamp = clock.stamp()
    assert 2.0 + 0.2 <= stamp["cpu_seconds"] < 2.0 + 0.35, stamp
    assert stamp["wall_seconds"] >= 1.0 + 0.4, stamp  # the sleep is waited, not computed


def test_training_records_the_clock_and_the_joint_stage_starts_at_step_0(tiny_synthetic_data, tmp_path):
    from s_cnn_rnn.models.config import ModelConfig  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import decoded_validation  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import stage_runner  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import trainer  # pylint: disable=import-outside-toplevel

    model = ModelConfig(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
                        embedding_dim=16, lstm_units=16, small_cnn_width=8)

    def train(joint_steps):
        settings = {stage: trainer.StageSettings(stage=stage, train_steps=joint_steps if stage == "joint" else 1,
                                                 batch_size=4, optimizer="adam", log_every=1, checkpoint_every=1,
                                                 validate_every=1, validation_steps=1)
                    for stage in ("cnn", "rnn", "joint")}
        stage_runner.train(stage_runner.TrainOptions(
            stage="all", data_dir=tiny_synthetic_data, model_dir=str(tmp_path), task="caption", model=model,
            stage_settings=settings, validation_decode_examples=4))
        return {stage: model_dir_lib.read_history(model_dir_lib.history_path(str(tmp_path), stage))
                for stage in ("cnn", "rnn", "joint")}

    first = train(joint_steps=1)
    # The image stages start with a decoded validation of what they were handed; rnn decodes nothing.
    assert [r["step"] for r in first["cnn"]] == [0, 1] and [r["step"] for r in first["rnn"]] == [1]
    assert [r["step"] for r in first["joint"]] == [0, 1] and "val_CIDEr_pytok" in first["joint"][0]
    assert "loss" not in first["joint"][0]  # nothing trained yet at step 0
    # The first step's rate leaves the step-0 validation out (its seconds are validation's).
    step0, step1 = first["joint"][:2]
    assert 1 / step1["steps_per_second"] < step1["wall_seconds"] - step0["wall_seconds"] + 0.5
    for records in first.values():
        for key in ("wall_seconds", "cpu_seconds"):
            seconds = [r[key] for r in records]
            assert 0 < seconds[0] and seconds == sorted(seconds), (key, seconds)
        assert all(r["validation_wall_seconds"] > 0 for r in records)
    assert decoded_validation.read_best(str(tmp_path / "joint"))["step"] > 0  # step 0 is never the best
    # A resumed stage continues its clock (checkpoint of step 1: the rerun trains step 2).
    resumed = train(joint_steps=2)
    assert [r["step"] for r in resumed["joint"]] == [0, 1, 2]
    assert resumed["joint"][:2] == first["joint"]
    assert resumed["joint"][2]["wall_seconds"] > first["joint"][1]["wall_seconds"]
    curve = efficiency.read_curve(str(tmp_path), "val_CIDEr_pytok")
    offset = resumed["cnn"][-1]["wall_seconds"] + resumed["rnn"][-1]["wall_seconds"]
    assert curve.wall_seconds[0] == pytest.approx(offset + resumed["joint"][0]["wall_seconds"])
    assert curve.image_steps == (1, 2, 3) and len(curve.values) == 3
    assert resumed["joint"][2]["cpu_seconds"] > first["joint"][1]["cpu_seconds"]
    assert curve.total_cpu_seconds == pytest.approx(sum(resumed[stage][-1]["cpu_seconds"] for stage in resumed))
    assert curve.final_stage.steps == (0, 1, 2)


def test_a_scaled_stage_validates_and_checkpoints_at_most_about_20_times(tiny_synthetic_data, tmp_path, monkeypatch):
    from s_cnn_rnn import train_flags  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import chief  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.models.config import ModelConfig  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import stage_runner  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import trainer  # pylint: disable=import-outside-toplevel

    paper = trainer.StageSettings(stage="rnn", train_steps=1_000_000, batch_size=4, optimizer="adam",
                                  log_every=50, checkpoint_every=500, validate_every=500, validation_steps=1)
    settings = train_flags.scale_stage_settings(paper, 0.0002)  # 200 steps; the intervals alone would be 1
    assert (settings.train_steps, settings.log_every) == (200, 1)
    assert (settings.validate_every, settings.checkpoint_every) == (10, 10)
    assert train_flags.scale_stage_settings(dataclasses.replace(paper, validate_every=0), 0.0002).validate_every == 0
    assert train_flags.scale_stage_settings(paper, 1.0) == paper  # unscaled: the flagfile's intervals
    model = ModelConfig(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
                        embedding_dim=8, lstm_units=8, small_cnn_width=4)
    # Trained, on a stage of 40 steps (a short test): interval 2, so 20 validations and checkpoints.
    short = train_flags.scale_stage_settings(dataclasses.replace(paper, train_steps=200_000), 0.0002)
    assert (short.train_steps, short.validate_every, short.checkpoint_every) == (40, 2, 2)
    saves, save = [], chief.CheckpointSaver.save

    def counting_save(self, checkpoint_number):
        saves.append(checkpoint_number)
        return save(self, checkpoint_number)

    monkeypatch.setattr(chief.CheckpointSaver, "save", counting_save)
    stage_runner.train(stage_runner.TrainOptions(
        stage="rnn", data_dir=tiny_synthetic_data, model_dir=str(tmp_path), task="caption", model=model,
        stage_settings={"rnn": short}))
    records = model_dir_lib.read_history(model_dir_lib.history_path(str(tmp_path), "rnn"))
    assert [r["step"] for r in records if "val_loss" in r] == list(range(2, 41, 2))
    assert saves == list(range(2, 41, 2))
    assert len(records) == 40  # still a history record every step (log_every 1)


def test_step_0_is_recorded_but_never_the_best_checkpoint(tmp_path):
    import types  # pylint: disable=import-outside-toplevel

    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn.training import decoded_validation  # pylint: disable=import-outside-toplevel

    hook = decoded_validation.DecodedValidation(types.SimpleNamespace(task="caption"), "rnn", None, 0)
    assert not hook.decodes_images  # the rnn stage decodes nothing: no step-0 validation for it
    checkpoint = tf.train.Checkpoint(value=tf.Variable(0.0))
    hook(0, {"val_loss": 1.0}, checkpoint, str(tmp_path))  # the hand-over scores better than step 1...
    assert decoded_validation.read_best(str(tmp_path)) is None
    hook(1, {"val_loss": 2.0}, checkpoint, str(tmp_path))
    assert decoded_validation.read_best(str(tmp_path))["step"] == 1  # ...but the best is a trained step
