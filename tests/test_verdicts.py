"""The decision per claim of s-cnn-rnn-reproduce: the paired t-test, the verdict rule, the claims as data, and
the fair protocol's seeds (`s_cnn_rnn/reproduce/paired_test.py`, `verdicts.py`, `claims.py`, `jobs.py`)."""

import json
import math
import os
import subprocess
import sys

import pytest

from s_cnn_rnn.reproduce import claims
from s_cnn_rnn.reproduce import jobs
from s_cnn_rnn.reproduce import paired_test
from s_cnn_rnn.reproduce import paper_results
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import tables
from s_cnn_rnn.reproduce import verdict_table
from s_cnn_rnn.reproduce import verdicts
from tests.test_reproduce import FLAGS_DIR, PROJECT_ROOT


def test_the_paired_t_test_matches_one_computed_by_hand():
    # Four per-seed differences. mean = (0.1 + 0.3 + 0.2 + 0.4) / 4 = 0.25; deviations -0.15, 0.05, -0.05,
    # 0.15, squares sum to 0.05; sd = sqrt(0.05 / 3) = 0.129099; se = sd / sqrt(4) = 0.0645497;
    # t = 0.25 / 0.0645497 = 3.872983.
    result = paired_test.paired_t_test([0.1, 0.3, 0.2, 0.4])
    assert result["n"] == 4 and result["mean"] == pytest.approx(0.25)
    assert result["std"] == pytest.approx(math.sqrt(0.05 / 3))
    assert result["t"] == pytest.approx(3.872983, rel=1e-6)
    # Student's t with 3 degrees of freedom has a closed-form CDF, F(t) = 1/2 + (1/pi) (atan(t/sqrt3) +
    # (t/sqrt3) / (1 + t^2/3)), so the two-sided p is 1 - (2/pi)(atan(u) + u / (1 + u^2)) with u = t/sqrt3:
    # 0.030466 (scipy.stats.ttest_1samp gives the same).
    u = 3.872983346207417 / math.sqrt(3)
    assert result["p"] == pytest.approx(1 - 2 / math.pi * (math.atan(u) + u / (1 + u * u)), rel=1e-9)
    assert result["p"] == pytest.approx(0.030466, abs=1e-6)
    # 95% CI: mean +- t_{0.975,3} se, with the table value t_{0.975,3} = 3.182 (3.182446):
    # 0.25 +- 0.205426 = [0.044574, 0.455426].
    low, high = result["ci95"]
    assert low == pytest.approx(0.25 - 3.182446 * 0.0645497, abs=1e-5) and low == pytest.approx(0.044574, abs=1e-5)
    assert high == pytest.approx(0.455426, abs=1e-5)
    # The sign does not matter to p; a wider spread makes it larger (n = 4, differences 1, 2, 3, 6:
    # mean 3, sd sqrt(14/3), t = 2.7775, p = 0.0691 > 0.05, CI [-0.437, 6.437]).
    assert paired_test.paired_t_test([-0.1, -0.3, -0.2, -0.4])["p"] == pytest.approx(result["p"])
    wide = paired_test.paired_t_test([1, 2, 3, 6])
    assert wide["t"] == pytest.approx(3 / (math.sqrt(14 / 3) / 2)) and wide["p"] == pytest.approx(0.0691, abs=1e-4)
    assert wide["ci95"] == pytest.approx([-0.4374, 6.4374], abs=1e-3)


def test_degenerate_tests_are_settled_and_said():
    assert paired_test.paired_t_test([])["mean"] is None
    single = paired_test.paired_t_test([0.4])
    assert (single["mean"], single["p"], single["ci95"]) == (0.4, None, None) and "no test" in single["note"]
    constant = paired_test.paired_t_test([0.5, 0.5, 0.5])
    assert (constant["p"], constant["t"], constant["ci95"]) == (0.0, None, [0.5, 0.5])
    assert "zero variance" in constant["note"] and "p = 0" in constant["note"]
    assert paired_test.paired_t_test([0.0, 0.0])["p"] == 1.0


def test_the_verdict_rule():
    significant = paired_test.paired_t_test([0.1, 0.3, 0.2, 0.4])  # p = 0.030
    assert verdicts.decide(+1.5, significant) == "reproduced"
    assert verdicts.decide(-1.5, significant) == "contradicted"
    assert verdicts.decide(0.0, significant) == "contradicted"  # the paper's tie, separated here
    assert verdicts.decide(+1.5, paired_test.paired_t_test([1, 2, 3, 6])) == "not separated"  # p = 0.069
    assert verdicts.decide(+1.5, paired_test.paired_t_test([0.4])) == "not separated"  # n = 1: no test
    assert verdicts.decide(+1.5, paired_test.paired_t_test([])) == "not run"
    assert verdicts.decide(-1.5, paired_test.paired_t_test([-0.2, -0.2, -0.2])) == "reproduced"  # zero variance


@pytest.mark.parametrize("number", sorted(tables.TABLES))
def test_the_claims_cover_every_row_and_every_adjacent_pair_of_the_papers_ranking(number):
    table_claims = claims.for_table(number)
    published = paper_results.PAPER_RESULTS[number]
    for claim in table_claims:
        assert claim.paper_better in published and claim.paper_worse in published, claim.id
        assert claim.better != claim.worse and claim.text.strip() and "Sec. " in claim.text, claim.id
        assert set(claim.metrics) <= set(tables.TABLES[number].columns), claim.id
    named = {name for claim in table_claims for name in (claim.better, claim.worse)}
    assert {row.name for row in tables.TABLES[number].rows} <= named
    pairs = {frozenset((claim.paper_better, claim.paper_worse)) for claim in table_claims}
    printed = [name for name in published if (number, name) not in tables.ROW_READINGS]  # the paper's own rows
    for metric in claims.HEADLINE_METRICS[number]:
        ranking = sorted(printed, key=lambda name: published[name][metric])
        for worse, better in zip(ranking, ranking[1:]):
            assert frozenset((better, worse)) in pairs, (metric, better, worse)
    assert len({claim.id for claim in claims.CLAIMS}) == len(claims.CLAIMS)


def test_the_papers_differences_and_named_gaps():
    by_id = {claim.id: claim for claim in claims.CLAIMS}
    assert by_id["t4_ours_vs_nic_deeply"].paper_difference("CIDEr") == pytest.approx(1.054 - 1.006)
    assert by_id["t4_nic_deeply_vs_nic_f"].paper_difference("Bleu_4") == pytest.approx(0.323 - 0.297)
    assert by_id["t1_tag1k_vs_tag1k_fix"].paper_difference("C-F1") == pytest.approx(66.36 - 60.91)
    # Table 2 ranks RIA and CNN+logistic differently on the two F1s: the sign is per metric.
    ria = by_id["t2_ria_vs_cnn_logistic"]
    assert ria.paper_difference("O-F1") == pytest.approx(5.75) and ria.paper_difference("C-F1") == pytest.approx(-0.15)
    threshold = by_id["t2_ours_vs_cnn_logistic_threshold"]
    assert threshold.worse == claims.CNN_LOGISTIC_THRESHOLD and threshold.paper_worse == "CNN+logistic"
    assert threshold.paper_difference("O-F1") == by_id["t2_ours_vs_cnn_logistic"].paper_difference("O-F1")


def _record(name, values_by_seed, status="done", reason=None):
    return {"name": name, "status": status, "reason": reason,
            "per_seed": {str(seed): values for seed, values in values_by_seed.items()}}


def _captions(cider, meteor=None):
    return {"CIDEr": cider, "METEOR": meteor, "ROUGE_L": 0.5, "Bleu_4": 0.3}


def test_verdicts_pair_the_seeds_both_rows_ran_and_say_why_a_claim_was_not_run():
    table = tables.TABLES[4]
    names = tuple(row.name for row in table.rows)
    records = [_record("NIC-F", {0: _captions(0.50), 1: _captions(0.40), 2: _captions(0.45)}),
               _record("NIC-deeply", {}, status="skipped", reason="the data has no images"),
               # Seed 3 has no partner in NIC-F: left out of the pairs.
               _record("Ours", {0: _captions(0.70), 1: _captions(0.62), 2: _captions(0.66), 3: _captions(0.1)})]
    judged = verdicts.judge(claims.for_table(4), 4, names, records)
    assert len(judged) == 3 * 4
    by_key = {(verdict["claim"], verdict["metric"]): verdict for verdict in judged}
    cider = by_key[("t4_ours_vs_nic_f", "CIDEr")]
    assert cider["seeds"] == [0, 1, 2] and cider["n"] == 3
    assert cider["mean_difference"] == pytest.approx(0.21)  # (0.20 + 0.22 + 0.21) / 3
    assert cider["paper_difference"] == pytest.approx(0.122) and cider["verdict"] == "reproduced"
    assert cider["rows"] == ["Ours", "NIC-F"] and cider["ci95"][0] < 0.21 < cider["ci95"][1]
    rouge = by_key[("t4_ours_vs_nic_f", "ROUGE_L")]  # the same value at every seed: zero variance, mean 0
    assert rouge["p"] == 1.0 and rouge["verdict"] == "not separated" and "zero variance" in rouge["reason"]
    meteor = by_key[("t4_ours_vs_nic_f", "METEOR")]
    assert meteor["verdict"] == "not run" and "no seed with a METEOR value" in meteor["reason"]
    skipped = by_key[("t4_ours_vs_nic_deeply", "CIDEr")]
    assert skipped["verdict"] == "not run" and skipped["reason"] == "row NIC-deeply skipped: the data has no images"
    unselected = verdicts.judge(claims.for_table(4), 4, names, records[:1] + records[2:])
    assert {v["reason"] for v in unselected if v["claim"] == "t4_nic_deeply_vs_nic_f"} == {
        "row NIC-deeply was not selected by --rows"}
    assert verdicts.summary(judged) == "1 reproduced, 2 not separated, 0 contradicted, 9 not run"
    markdown = verdict_table.markdown(judged, 3)
    assert "1 reproduced, 2 not separated, 0 contradicted, 9 not run." in markdown
    low, high = cider["ci95"]
    assert f"| Ours - NIC-F, CIDEr | +0.122 | +0.210 [{low:+.3f}, {high:+.3f}] | {cider['p']:.3g} | 3 | reproduced |" \
        in markdown


def test_a_claim_on_a_row_the_table_does_not_have_is_not_run():
    # Table 2 as it was before its second CNN+logistic reading: the claims on that row cannot be run.
    names = tuple(row.name for row in tables.TABLES[2].rows if row.name != claims.CNN_LOGISTIC_THRESHOLD)
    labels = dict.fromkeys(paper_results.MULTILABEL_COLUMNS, 50.0)
    records = [_record(name, {0: labels, 1: labels}) for name in names]
    judged = verdicts.judge(claims.for_table(2), 2, names, records)
    threshold = [v for v in judged if claims.CNN_LOGISTIC_THRESHOLD in v["rows"]]
    assert len(threshold) == 2 * 2 and all(v["verdict"] == "not run" and v["n"] == 0 for v in threshold)
    assert threshold[0]["reason"] == f"Table 2 has no row {claims.CNN_LOGISTIC_THRESHOLD!r}"
    # Equal rows at every seed: no other claim is separated.
    assert {v["verdict"] for v in judged if v not in threshold} == {"not separated"}
    assert claims.CNN_LOGISTIC_THRESHOLD in {row.name for row in tables.TABLES[2].rows}  # the table has it now


def test_the_selection_seed_is_never_a_test_seed():
    assert protocol.DEFAULT_SEEDS["fair"] == tuple(range(8)) and protocol.DEFAULT_SEEDS["flagfiles"] == (0,)
    with pytest.raises(ValueError, match="contains the selection seed 100"):
        jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (0, 100), selection_seed=100)
    assert jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (3, 4), selection_seed=100).grid_seed == 100
    assert jobs.Settings(FLAGS_DIR, "/d", "/o", "caption", (3, 4)).grid_seed == 3  # the flagfiles protocol


def _reproduce(*args):
    return subprocess.run([sys.executable, "-m", "s_cnn_rnn.reproduce", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, check=False, env=dict(os.environ, PYTHONPATH=PROJECT_ROOT))


def test_the_command_refuses_a_test_seed_that_is_the_selection_seed(tmp_path):
    common = ("--table=4", f"--data_dir={tmp_path}", f"--output_dir={tmp_path / 'out'}")
    done = _reproduce(*common, "--protocol=fair", "--seeds=0,7", "--selection_seed=7")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--seeds=0,7 contains the selection seed 7" in done.stderr
    flagfiles = _reproduce(*common, "--selection_seed=7")
    assert flagfiles.returncode == 2 and "--selection_seed applies under --protocol=fair only" in flagfiles.stderr
    assert not (tmp_path / "out").exists()


def test_the_grid_trains_at_the_selection_seed(tmp_path, monkeypatch):
    from s_cnn_rnn.reproduce import runner  # pylint: disable=import-outside-toplevel

    row = next(row for row in tables.TABLES[4].rows if row.name == "Ours")
    metric = protocol.selection_metric("caption", row.stages)
    trained = []

    def fake_train(run, flags_dir, threads=None):
        trained.append((run.seed, run.model_dir, "--seed=100" in run.train_command))
        os.makedirs(os.path.join(run.model_dir, row.stages[-1], "best"))
        with open(os.path.join(run.model_dir, row.stages[-1], "best", "best.json"), "w", encoding="utf-8") as handle:
            json.dump({"metric": metric, "value": 0.5}, handle)
        with open(os.path.join(run.model_dir, runner.TIMING_FILE), "w", encoding="utf-8") as handle:
            json.dump({"train_seconds": 1.0}, handle)
        return 1.0

    monkeypatch.setattr(runner, "train", fake_train)
    settings = jobs.Settings(FLAGS_DIR, "/d", str(tmp_path), "caption", tuple(range(8)), lr_grid=(1.0, 3.0),
                             selection_seed=100)
    assert jobs.select_learning_rates((row,), settings, lambda line: None) == {row.key: 1.0}
    assert sorted(trained) == [(100, str(tmp_path / row.key / f"lr{factor}" / "seed100"), True)
                               for factor in ("1", "3")]
    assert json.loads((tmp_path / row.key / protocol.SELECTION_FILE).read_text())["seed"] == 100
    # A choice recorded at another seed (before the selection seed existed) is made again at this one.
    trained.clear()
    selection = tmp_path / row.key / protocol.SELECTION_FILE
    selection.write_text(json.dumps({**json.loads(selection.read_text()), "seed": 0, "chosen": 3.0}))
    assert jobs.select_learning_rates((row,), settings, lambda line: None) == {row.key: 1.0}
    assert trained == []  # the grid runs are reused, the choice is made again from their scores
