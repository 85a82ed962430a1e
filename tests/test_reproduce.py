"""s-cnn-rnn-reproduce: the paper's numbers, the tables' rows, the statistics, and a whole table end to
end on the built-in dataset (rows, paper numbers beside them, skip and resume)."""

import dataclasses
import json
import os
import warnings

import pytest

from s_cnn_rnn import command_line
from s_cnn_rnn.reproduce import aggregate
from s_cnn_rnn.reproduce import paper_results
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.reproduce import tables
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(PROJECT_ROOT, "flags")
# A tiny model at a tiny scale: the caption flagfiles' 30,000 / 1,000,000 / 500,000 stage steps
# become 1 / 4 / 2 (head steps 5,000 -> 1); no validation (it would run after every step).
TINY_SCALE = "4e-6"
TINY_FLAGS = ("--backbone=small_cnn", "--backbone_weights=none", "--image_size=32", "--small_cnn_width=8",
              "--embedding_dim=16", "--lstm_units=16", "--batch_size=8", "--validate_every=0")


def _resolved_flags(flagfile: str) -> dict:
    """{flag: value} of a flagfile with its includes, later lines winning (absl's order)."""
    lines = command_line.expand_flagfiles(["s-cnn-rnn-train", f"--flagfile={os.path.join(FLAGS_DIR, flagfile)}"])
    return dict(line[2:].partition("=")[::2] for line in lines[1:] if line.startswith("--"))


def test_paper_numbers_are_the_published_ones():
    assert set(paper_results.PAPER_RESULTS) == set(tables.TABLES) == {1, 2, 4}
    for number, table in tables.TABLES.items():
        assert [row.name for row in table.rows if row.name not in table.paper] == []
        assert all(set(table.paper[row.name]) == set(table.columns) for row in table.rows)
    # Spot checks against the paper's text (Tables 1, 2, 4).
    assert tables.TABLES[1].paper["Ours"]["O-F1"] == 70.96
    assert tables.TABLES[1].paper["Ours+Tag1K Fix"]["C-P"] == 63.51
    assert tables.TABLES[1].paper["CNN+logistic"]["O-P"] == 51.32
    assert tables.TABLES[2].paper["RIA"]["C-P"] == 64.32
    assert tables.TABLES[2].paper["Ours+Tag1K"]["O-F1"] == 75.16
    assert tables.TABLES[4].paper["NIC-deeply"] == {"CIDEr": 1.006, "METEOR": 0.258, "ROUGE_L": 0.543, "Bleu_4": 0.323}


@pytest.mark.parametrize("number", sorted(tables.TABLES))
def test_every_row_has_a_flagfile_of_its_variant(number):
    table = tables.TABLES[number]
    expected = {"Ours": "s_cnn_rnn", "Ours+Tag1K": "s_cnn_rnn", "Ours+Tag1K Fix": "s_cnn_rnn", "RIA": "ria",
                "CNN+logistic": "cnn_logistic", "CNN+logistic (p>=0.5)": "cnn_logistic", "NIC-F": "nic_f",
                "NIC-deeply": "nic_deeply"}
    for row in table.rows:
        assert runner.read_flagfiles(FLAGS_DIR, row.flagfile)  # it and its includes exist
        values = _resolved_flags(row.flagfile)
        assert values["task"] == table.task and values["variant"] == expected[row.name], row.flagfile
        assert ("use_tags" in values) == ("Tag1K" in row.name) == ("tags" in row.needs), row.flagfile
        assert ("freeze_cnn" in values) == row.name.endswith("Fix"), row.flagfile
        assert all(f"{stage}_train_steps" in values for stage in ("cnn", "rnn", "joint")), row.flagfile
    trained = [row for table in tables.TABLES.values() for row in table.rows if row.reading is None]
    assert len({row.run_key for row in trained}) == len(trained)  # model dirs never collide
    keys = [row.key for table in tables.TABLES.values() for row in table.rows]
    assert len(set(keys)) == len(keys)


def test_rows_are_selected_by_key_or_name():
    table = tables.TABLES[1]
    assert [row.key for row in tables.select_rows(table, ["Ours", "nuswide_ria"])] == ["nuswide_ria", "nuswide_ours"]
    with pytest.raises(ValueError, match="not in Table 1"):
        tables.select_rows(table, ["coco_caption_ours"])


def _fake_data(path, num_tags: int) -> str:
    """A converted data dir's manifest and vocabularies (no records): enough for the requirement checks."""
    vocab = path / "vocab"
    vocab.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"has_images": True, "splits": {"test": {"num_examples": 1}}}))
    for name, count in (("words", 6), ("concepts", 2), ("labels", 3), ("tags", num_tags)):
        (vocab / f"{name}.txt").write_text("".join(f"t{i}\t1\n" for i in range(count)))
    return str(path)


def test_rows_needing_tags_are_skipped_with_a_reason(tmp_path):
    table = tables.TABLES[1]
    with_tags, without = _fake_data(tmp_path / "a", 5), _fake_data(tmp_path / "b", 0)
    tag_row = next(row for row in table.rows if row.name == "Ours+Tag1K")
    ours = next(row for row in table.rows if row.name == "Ours")
    assert tables.missing_requirement(table, tag_row, with_tags) is None
    assert tables.missing_requirement(table, ours, without) is None
    assert "tags.txt is empty" in tables.missing_requirement(table, tag_row, without)


def test_statistics_paired_differences_and_paper_differences():
    table = tables.TABLES[4]
    def values(cider):
        return {"CIDEr": cider, "METEOR": None, "ROUGE_L": 0.5, "Bleu_4": 0.25}
    per_seed = {"coco_caption_ours": {0: values(0.6), 1: values(0.8)},
                "coco_caption_nic_f": {0: values(0.5), 1: values(0.5)}}
    records = aggregate.summarise(table, per_seed, {"coco_caption_nic_deeply": "a reason"}, [0, 1])
    assert [(r["name"], r["status"]) for r in records] == [("NIC-F", "done"), ("NIC-deeply", "skipped"),
                                                          ("Ours", "done")]
    nic_f, skipped, ours = records
    assert ours["mean"]["CIDEr"] == pytest.approx(0.7) and ours["std"]["CIDEr"] == pytest.approx(0.14142, abs=1e-5)
    assert ours["minus_paper"]["CIDEr"] == pytest.approx(0.7 - 1.054)
    assert ours["mean"]["METEOR"] is None and ours["minus_paper"]["METEOR"] is None  # no Java: n/a, not 0
    assert ours["paired_minus_reference"] is None and skipped["reason"] == "a reason"
    paired = nic_f["paired_minus_reference"]["CIDEr"]
    assert paired["per_seed"] == {"0": pytest.approx(-0.1), "1": pytest.approx(-0.3)}
    assert paired["mean"] == pytest.approx(-0.2) and paired["std"] == pytest.approx(0.14142, abs=1e-5)
    # A multi-label row reads its metrics.json row, x100; CNN+logistic its top-3 (SPEC I3).
    row = next(row for row in tables.TABLES[2].rows if row.name == "CNN+logistic")
    metrics = {"concept_top3": dict.fromkeys(paper_results.MULTILABEL_COLUMNS, 0.5)}
    assert aggregate.row_values(tables.TABLES[2], row, metrics)["O-F1"] == 50.0
    with pytest.raises(ValueError, match="concept_top3"):
        aggregate.row_values(tables.TABLES[2], row, {"decoded": metrics["concept_top3"]})


BUDGET = protocol.Budget(cnn_steps=30, decoder_steps=100, joint_steps=20, tags_steps=7)


@pytest.mark.parametrize("number", sorted(tables.TABLES))
def test_the_fair_budget_gives_every_cnn_the_same_image_steps_and_every_decoder_the_same_start(number):
    for row in tables.TABLES[number].rows:
        steps = protocol.stage_steps(row.stages, BUDGET)
        assert set(steps) == set(row.stages), row.name
        assert steps.get("cnn", 0) + steps.get("joint", 0) == 50, row.name  # C + J image steps of CNN training
        pretraining = [stage for stage in ("rnn", "decoder") if stage in row.stages]
        assert [steps[stage] for stage in pretraining] == ([100] if "joint" in row.stages else []), row.name
        assert steps.get("tags") == (7 if row.use_tags else None), row.name
    flags_of = {row.name: protocol.step_flags(row.stages, BUDGET) for row in tables.TABLES[number].rows}
    expected = {
        "NIC-F": ("--decoder_train_steps=100", "--joint_train_steps=50", "--cnn_head_steps=0"),
        "RIA": ("--decoder_train_steps=100", "--joint_train_steps=50", "--cnn_head_steps=0"),
        "NIC-deeply": ("--cnn_train_steps=30", "--decoder_train_steps=100", "--joint_train_steps=20",
                       "--cnn_head_steps=0"),
        "CNN+logistic": ("--cnn_train_steps=50", "--cnn_head_steps=0"),
        "Ours+Tag1K": ("--tags_train_steps=7", "--cnn_train_steps=30", "--rnn_train_steps=100",
                       "--joint_train_steps=20", "--cnn_head_steps=0"),
    }
    for name, flags in flags_of.items():
        if name in expected:
            assert flags == expected[name], name
    # The decoder stage reads images through the frozen CNN; Ours' rnn stage and the tags stage read none.
    ours = next(row for row in tables.TABLES[number].rows if row.name == "Ours")
    assert protocol.image_steps(ours.stages, BUDGET) == 50
    if number == 4:
        assert protocol.image_steps(tables.TABLES[4].rows[0].stages, BUDGET) == 150  # NIC-F


@pytest.mark.parametrize("flagfile", ["miniature_caption.flags", "miniature_multilabel.flags"])
def test_the_miniature_flagfiles_leave_every_row_its_own_model_and_the_budget_its_steps(flagfile):
    values = _resolved_flags(flagfile)
    assert values["backbone"] == "small_cnn" and values["backbone_weights"] == "none"
    reserved = [name for name in values if name in runner.RESERVED_FLAGS or name.endswith("_train_steps")]
    assert reserved == [], f"{flagfile} sets {reserved}: every row of the table would train the same thing"
    protocol.check_extra_flags([f"--{name}={value}" for name, value in values.items()])


def test_the_learning_rate_is_picked_by_the_final_stage_metric(tmp_path):
    assert protocol.selection_metric("caption", ("cnn", "rnn", "joint")) == "val_CIDEr_pytok"
    assert protocol.selection_metric("multilabel", ("cnn", "rnn", "joint")) == "val_O-F1"
    assert protocol.selection_metric("multilabel", ("cnn",)) == "val_concept_O-F1"  # CNN+logistic
    assert protocol.pick({0.3: 0.5, 1.0: 0.7, 3.0: 0.6}) == 1.0
    assert protocol.pick({0.3: 0.8, 1.0: 0.7, 3.0: 0.6}) == 0.3
    assert protocol.pick({0.5: 0.7, 3.0: 0.7}) == 0.5  # a tie goes to the factor nearest x1 (in log)
    best = tmp_path / "joint" / "best"
    with pytest.raises(ValueError, match="recorded no validation score"):
        protocol.validation_score(str(tmp_path), "joint", "val_O-F1")
    best.mkdir(parents=True)
    (best / "best.json").write_text(json.dumps({"step": 4, "metric": "val_O-F1", "value": 0.61}))
    assert protocol.validation_score(str(tmp_path), "joint", "val_O-F1") == 0.61
    with pytest.raises(ValueError, match="cannot be scored"):
        protocol.validation_score(str(tmp_path), "joint", "val_CIDEr_pytok")
    with pytest.raises(ValueError, match="must be >= 1"):
        protocol.Budget(0, 1, 1, 1)
    protocol.check_extra_flags(["--image_size=32", "--validate_every=5"])
    for bad in ("--cnn_train_steps=5", "--joint_train_steps=1", "--cnn_head_steps=2", "--train_steps=3"):
        with pytest.raises(ValueError, match="budget sets every stage"):
            protocol.check_extra_flags([bad])


def test_the_grid_keeps_each_row_its_best_factor_on_validation(tmp_path, monkeypatch):
    """jobs.select_learning_rates with the trainings replaced: each writes the validation score that its
    (row, factor) is given, as a finished training's best.json and timing.json."""
    from s_cnn_rnn.reproduce import jobs  # pylint: disable=import-outside-toplevel

    table = tables.TABLES[1]
    rows = tuple(row for row in table.rows if row.name in ("CNN+logistic", "Ours"))
    scores = {("nuswide_cnn_logistic", 0.3): 0.40, ("nuswide_cnn_logistic", 1.0): 0.55,
              ("nuswide_cnn_logistic", 3.0): 0.50, ("nuswide_ours", 0.3): 0.61, ("nuswide_ours", 1.0): 0.60,
              ("nuswide_ours", 3.0): 0.20}
    trained = []

    def fake_train(run, flags_dir, threads=None):
        factor = float(os.path.basename(os.path.dirname(run.model_dir))[2:])
        row = next(row for row in rows if row.key == run.row_key)
        stage = row.stages[-1]
        os.makedirs(os.path.join(run.model_dir, stage, "best"))
        with open(os.path.join(run.model_dir, stage, "best", "best.json"), "w", encoding="utf-8") as handle:
            json.dump({"metric": protocol.selection_metric("multilabel", row.stages),
                       "value": scores[(run.row_key, factor)]}, handle)
        with open(os.path.join(run.model_dir, runner.TIMING_FILE), "w", encoding="utf-8") as handle:
            json.dump({"train_seconds": 1.0}, handle)
        trained.append((run.row_key, factor, run.seed, dict(arg.split("=", 1) for arg in run.train_command
                                                              if arg.startswith("--learning_rate_scale"))))
        return 1.0

    monkeypatch.setattr(runner, "train", fake_train)
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "multilabel", (4, 5), lr_grid=(0.3, 1.0, 3.0),
                             budget=BUDGET, parallel=2)
    lines = []
    assert jobs.select_learning_rates(rows, settings, lines.append) == {"nuswide_cnn_logistic": 1.0, "nuswide_ours": 0.3}
    # Seed 4 (the first: no selection seed given) at every factor, each with its rate factor; CNN+logistic
    # scored by its top-3 O-F1 (the fair protocol's separate selection seed: test_verdicts).
    assert sorted((key, factor, seed) for key, factor, seed, _ in trained) == sorted(
        (key, factor, 4) for key, factor in scores)
    assert all(flags == {"--learning_rate_scale": f"{factor:g}"} for _, factor, _, flags in trained)
    selection = json.loads((tmp_path / "nuswide_cnn_logistic" / "lr_selection.json").read_text())
    assert selection == {"metric": "val_concept_O-F1", "split": "validation", "seed": 4, "chosen": 1.0,
                         "scores": {"0.3": 0.40, "1": 0.55, "3": 0.50}}
    assert "row Ours: lr x0.3 chosen by val_O-F1 (x0.3 0.6100, x1 0.6000, x3 0.2000)" in lines
    # A rerun trains nothing and keeps the choice, even if a score changed since.
    scores[("nuswide_ours", 1.0)] = 0.99
    trained.clear()
    assert jobs.select_learning_rates(rows, settings, lines.append)["nuswide_ours"] == 0.3 and trained == []


def test_extra_flags_that_the_runner_sets_are_refused():
    runner.check_extra_flags(["--backbone=small_cnn", "--noaugment", "--image_size=32"])
    for bad in (["--model_dir=x"], ["--seed=3"], ["--step_scale=2"], ["--variant=nic_f"], ["--nouse_tags"],
                ["--learning_rate_scale=2"], ["positional"]):
        with pytest.raises(ValueError):
            runner.check_extra_flags(bad)


def test_a_row_is_finished_when_its_metrics_exist(tmp_path):
    row = tables.TABLES[4].rows[0]
    def plan(max_images):
        return runner.plan_run(row, 1, flags_dir=FLAGS_DIR, data_dir="/d", output_dir=str(tmp_path), split="test",
                               scale=0.5, extra_flags=["--image_size=32"], eval_max_images=max_images)
    run, partial = plan(None), plan(4)
    assert run.model_dir == str(tmp_path / "coco_caption_nic_f" / "seed1")
    assert run.train_command[2:4] == ("--flagfile=flags/coco_caption_nic_f.flags", "--image_size=32")  # flags win
    assert "--step_scale=0.5" in run.train_command and "--seed=1" in run.train_command
    assert set(run.flagfiles) == {"flags/coco_caption_nic_f.flags", "flags/coco_caption_ours.flags"}
    # A partial evaluation lives in max_images-N/ (s-cnn-rnn-evaluate never lets it replace a whole split's).
    assert partial.metrics_paths[0] == str(tmp_path / "coco_caption_nic_f" / "seed1" / "eval_test" / "max_images-4"
                                           / "metrics.json")
    assert not runner.is_finished(run) and not runner.is_finished(partial)
    os.makedirs(os.path.dirname(partial.metrics_paths[0]))
    open(partial.metrics_paths[0], "w", encoding="utf-8").close()
    assert runner.is_finished(partial) and not runner.is_finished(run)
    # run.json pins the settings: the same run passes, another scale is refused.
    os.makedirs(run.model_dir, exist_ok=True)
    with open(os.path.join(run.model_dir, runner.RUN_FILE), "w", encoding="utf-8") as handle:
        json.dump(run.settings(), handle)
    runner.check_settings(run)
    with pytest.raises(runner.RunError, match="other train"):
        runner.check_settings(dataclasses.replace(run, train_command=run.train_command[:-1] + ("--step_scale=1",)))


def test_train_step_and_learning_rate_scales_reach_every_stage():
    from absl import flags  # pylint: disable=import-outside-toplevel
    from absl.testing import flagsaver  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import train  # pylint: disable=import-outside-toplevel

    with flagsaver.flagsaver():
        flags.FLAGS(["train", f"--flagfile={os.path.join(FLAGS_DIR, 'coco_caption_ours.flags')}",
                     "--data_dir=d", "--model_dir=m", "--step_scale=1e-3", "--validate_every=0",
                     "--learning_rate_scale=0.5"], known_only=False)
        settings = train.options_from_flags().stage_settings
    assert {stage: settings[stage].train_steps for stage in ("cnn", "rnn", "joint")} == {
        "cnn": 30, "rnn": 1000, "joint": 500}
    assert (settings["cnn"].head_steps, settings["rnn"].head_steps) == (5, 0)
    # 5000 -> 5, raised to ceil(500 / 20) = 25 (at most about 20 checkpoints); 200 -> 0.2 -> at least 1.
    assert (settings["joint"].checkpoint_every, settings["joint"].log_every) == (25, 1)
    assert settings["joint"].validate_every == 0  # off stays off
    assert {stage: settings[stage].learning_rate for stage in ("cnn", "rnn", "joint")} == {
        "cnn": pytest.approx(5e-5), "rnn": pytest.approx(5e-5), "joint": pytest.approx(5e-6)}  # x0.5


def run_reproduce(*args, no_java_dir=None):
    """`python -m s_cnn_rnn.reproduce ARGS`, in this process (tests/cli_runner.py: it imports no TensorFlow,
    and starts every training and evaluation as a subprocess itself, as for a user); with `no_java_dir` on
    a PATH without Java (the evaluations' METEOR is then n/a and they skip their JVM starts; the Java path
    is caption_scores' own test's)."""
    env = dict(os.environ, PYTHONPATH=PROJECT_ROOT)
    if no_java_dir is not None:
        env["PATH"] = str(no_java_dir)  # every command starts with sys.executable, not from PATH
        env.pop("JAVA_HOME", None)
    return cli_runner.run("s_cnn_rnn.reproduce", *args, env=env, cwd=PROJECT_ROOT)


def test_a_row_the_data_cannot_train_is_in_the_table_with_its_reason(tmp_path):
    data_dir = _fake_data(tmp_path / "data", 0)
    output_dir = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. matplotlib's of a legend without entries
        done = run_reproduce("--table=2", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
                             "--rows=coco_multilabel_ours_tag1k")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped: needs user tags" in done.stdout
    result = json.loads((output_dir / "table2.json").read_text())
    assert [(r["name"], r["status"]) for r in result["rows"]] == [("Ours+Tag1K", "skipped")]
    assert result["rows"][0]["paper"]["O-F1"] == 75.16
    assert "| Ours+Tag1K | skipped: needs user tags" in (output_dir / "table2.md").read_text()
    assert not (output_dir / "coco_multilabel_ours_tag1k").exists()
    bad = run_reproduce("--table=2", f"--data_dir={data_dir}", f"--output_dir={output_dir}", "--model_dir=x")
    assert bad.returncode == 2 and "sets --model_dir for every row itself" in bad.stderr
