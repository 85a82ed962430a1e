"""bench/ablation.py: budgets, checkpoint views, the report, and a tiny end-to-end run."""

import json
import os
import subprocess
import sys

import pytest

from bench import ablation_plot
from bench import ablation_worker as worker
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STEPS = {"cnn": 40, "rnn": 50, "joint": 30}


def test_the_bench_reads_the_variant_records_without_tensorflow():
    # The orchestrator process imports the worker and the report, and must not pay for TensorFlow.
    code = ("import sys; from bench import ablation_plot, ablation_worker; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHONPATH=PROJECT_ROOT))
    assert done.stdout.strip() == "[]"
    assert worker.STAGES_OF == {"s_cnn_rnn": ("cnn", "rnn", "joint"), "nic_f": ("decoder", "joint"),
                                "nic_deeply": ("cnn", "decoder", "joint"), "cnn_logistic": ("cnn",)}
    assert ablation_plot.NAMES == {"s_cnn_rnn": "S-CNN-RNN (Ours)", "s_cnn_rnn_tag1k": "S-CNN-RNN+Tag1K (Ours+Tag1K)",
                                   "nic_deeply": "NIC-deeply", "nic_f": "NIC-F", "cnn_logistic": "CNN+logistic"}
    assert worker.VARIANTS_BY_TASK["caption"] == ("s_cnn_rnn", "nic_deeply", "nic_f")


@pytest.mark.parametrize("key", sorted(worker.VARIANTS))
def test_every_variant_gets_the_same_image_steps(key):
    budget = worker.variant_budget(
        worker.VARIANTS[key][0], STEPS, use_tags=worker.VARIANTS[key][1])
    assert list(budget) == list(worker.variants.stages_to_run(*worker.VARIANTS[key]))
    assert sum(steps for stage, steps in budget.items() if stage not in worker.PRETRAINING) == (
        STEPS["cnn"] + STEPS["joint"])
    # The decoder's pretraining (rnn or decoder stage) gets R; the tag MLP's too without its own count.
    assert all(budget[stage] == STEPS["rnn"] for stage in worker.PRETRAINING if stage in budget)


def test_budgets_and_offsets_of_each_variant():
    assert worker.variant_budget("nic_f", STEPS) == {"decoder": 50, "joint": 70}
    assert worker.variant_budget("cnn_logistic", STEPS) == {"cnn": 70}
    assert worker.variant_budget("nic_deeply", STEPS) == {"cnn": 40, "decoder": 50, "joint": 30}
    assert worker.variant_budget("s_cnn_rnn", dict(STEPS, tags=9), use_tags=True) == {
        "tags": 9, "cnn": 40, "rnn": 50, "joint": 30}
    # Sorted-key JSON loses the stage order; offsets must not depend on it.
    budget = json.loads(json.dumps(worker.variant_budget("s_cnn_rnn", STEPS), sort_keys=True))
    assert worker.image_offsets(budget) == {"cnn": 0, "rnn": 40, "joint": 40}


@pytest.mark.parametrize("final_steps", [1, 2, 3, 7, 300, 301, 302])
def test_the_final_stage_keeps_exactly_three_evenly_spaced_checkpoints(final_steps):
    flags = worker.schedule_flags({"cnn": 10, "joint": final_steps})
    every = int(next(f for f in flags if f.startswith("--checkpoint_every=")).split("=")[1])
    saved = [s for s in range(1, final_steps + 1) if s % every == 0 or s == final_steps]  # the trainer's rule
    assert saved[-1] == final_steps and len(saved) == min(3, final_steps)


def test_scaled_steps_reads_the_flagfile(tmp_path):
    flagfile = tmp_path / "demo.flags"
    flagfile.write_text("# comment\n--cnn_train_steps=400\n--rnn_train_steps=800\n--joint_train_steps=300\n")
    assert worker.scaled_steps(str(flagfile), 0.25) == {"cnn": 100, "rnn": 200, "joint": 75}
    flagfile.write_text("--cnn_train_steps=400\n")
    with pytest.raises(ValueError, match="rnn_train_steps"):
        worker.scaled_steps(str(flagfile), 1.0)
    assert set(worker.scaled_steps(os.path.join(PROJECT_ROOT, worker.FLAGFILES["caption"]), 0.5)) == set(STEPS) | {
        "decoder"}


def _fake_stage(model_dir, stage, steps):
    directory = model_dir / stage / "checkpoints"
    directory.mkdir(parents=True)
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"'] + [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
    (directory / "checkpoint").write_text("\n".join(lines) + "\n")
    return directory


def test_curve_points_and_views_name_the_right_checkpoints(tmp_path):
    model_dir = tmp_path / "model"
    cnn_dir = _fake_stage(model_dir, "cnn", [20, 40])
    rnn_dir = _fake_stage(model_dir, "rnn", [50])
    joint_dir = _fake_stage(model_dir, "joint", [10, 20, 30])
    (model_dir / "vocab").mkdir()
    (model_dir / "model_config.json").write_text("{}")
    budget = {"cnn": 40, "rnn": 50, "joint": 30}
    points = worker.curve_points(str(model_dir), budget, max_points=4)
    assert [x for x, _ in points] == [40, 50, 60, 70]
    assert points[0][1] == {"cnn": str(cnn_dir / "ckpt-40"), "rnn": str(rnn_dir / "ckpt-50")}
    assert [x for x, _ in worker.curve_points(str(model_dir), budget, max_points=2)] == [40, 70]
    view = tmp_path / "view"
    worker.make_view(str(model_dir), str(view), {"joint": str(joint_dir / "ckpt-20")})
    # The state file TensorFlow reads (the end-to-end test restores through such views).
    assert worker.checkpoints_of(str(view / "joint")) == [(20, str(joint_dir / "ckpt-20"))]
    assert json.loads((view / "model_config.json").read_text()) == {}
    assert (view / "vocab").resolve() == (model_dir / "vocab").resolve()


def _record(variant, seed, value):
    rows = {"decoded": {"C-R": value, "C-P": value, "C-F1": value, "O-R": value, "O-P": value, "O-F1": value}}
    if variant == "cnn_logistic":
        rows = {"concept_top3": rows["decoded"], "concept_threshold": dict(rows["decoded"], **{"O-F1": 0.9})}
    return {"task": "multilabel", "variant": variant, "seed": seed, "budget": {"cnn": 70}, "train_seconds": 10.0,
            "test_metrics": rows, "loss_curve": [{"image_step": 35, "val_L_u": 1.0 + seed, "val_L_r": 3.0 + seed},
                                                 {"image_step": 70, "val_L_r": 2.0 + seed}],
            "metric_curve": [{"image_step": 70, "metrics": rows}]}


def test_report_statistics_and_rows():
    records = [_record("s_cnn_rnn", 0, 0.5), _record("s_cnn_rnn", 1, 0.7), _record("cnn_logistic", 0, 0.4)]
    summary = ablation_plot.summarise(records)
    o_f1 = summary["multilabel"]["s_cnn_rnn"]["rows"]["S-CNN-RNN (Ours)"]["O-F1"]
    assert o_f1["mean"] == pytest.approx(0.6) and o_f1["std"] == pytest.approx(0.1414, abs=1e-4)
    assert (o_f1["min"], o_f1["max"], o_f1["n"]) == (0.5, 0.7, 2)
    table = ablation_plot.tables(summary, {"seeds": [0, 1], "step_scale": 1.0, "steps": {"multilabel": STEPS}})
    assert "60.00±14.14" in table and "[50.00, 70.00]" in table
    assert summary["multilabel"]["s_cnn_rnn"]["final_val_L_r"]["mean"] == pytest.approx(2.5)  # the last records
    means = ablation_plot.means_line(summary, 1.0)["multilabel"]
    assert means["CNN+logistic (top-3)"]["O-F1"] == 0.4 and means["CNN+logistic (p>=0.5)"]["O-F1"] == 0.9
    points = ablation_plot.curve_points(records, "multilabel", "s_cnn_rnn", "val_L_u")
    assert ablation_plot.mean_curve(points) == ([35], [1.5], [1.0], [2.0])


def test_tiny_ablation_end_to_end(tiny_synthetic_data, tmp_path):
    output_dir = tmp_path / "ablation"
    command = [sys.executable, os.path.join(PROJECT_ROOT, "bench", "ablation.py"), "--quick",
               f"--data_dir={tiny_synthetic_data}", f"--output_dir={output_dir}", "--tasks=multilabel",
               "--variants=s_cnn_rnn,cnn_logistic", "--parallel=2", "--curve_points=2"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    means = json.loads(done.stdout.strip().splitlines()[-1])
    rows = {"S-CNN-RNN (Ours)", "CNN+logistic (top-3)", "CNN+logistic (p>=0.5)"}
    assert set(means["multilabel"]) == rows
    results = json.loads((output_dir / "ablation_results.json").read_text())
    assert [(r["variant"], r["seed"]) for r in results["runs"]] == [("s_cnn_rnn", 0), ("cnn_logistic", 0)]
    ours, logistic = results["runs"]
    assert ours["budget"] == {"cnn": 4, "rnn": 4, "joint": 2} and logistic["budget"] == {"cnn": 6}
    assert [p["image_step"] for p in ours["metric_curve"]] == [4, 6]  # pretrained model, end of joint
    assert [p["image_step"] for p in logistic["metric_curve"]] == [2, 6]
    assert {r["stage"] for r in ours["loss_curve"]} == {"cnn", "joint"}
    assert 0.0 <= results["summary"]["multilabel"]["s_cnn_rnn"]["rows"]["S-CNN-RNN (Ours)"]["O-F1"]["mean"] <= 1.0
    table = (output_dir / "ablation_tables.txt").read_text()
    assert "Table 2" in table and all(row in table for row in rows)
    assert (output_dir / "ablation_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A rerun starts no worker: every run's record is reused.
    again = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "seed 0:" not in again.stdout
    assert json.loads(again.stdout.strip().splitlines()[-1])["multilabel"] == means["multilabel"]
