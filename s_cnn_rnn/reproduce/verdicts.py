"""A decision per claim and metric: did the runs reproduce the paper's ordering of two rows?

The rule, fixed before the runs: the per-seed differences better - worse over the seeds both rows ran
go through a paired t-test (`paired_test`); the claim is

  reproduced      the mean difference has the paper's sign and p < 0.05
  contradicted    the opposite sign and p < 0.05 (a published tie, difference 0, counts as opposite)
  not separated   otherwise (p >= 0.05, or fewer than 2 seeds: no test)
  not run         a row is missing (not in the table, not selected, skipped) or has no value of the metric

No correction for the number of tests (10-12 per table): one "reproduced" or "contradicted" at p just
under 0.05 can be chance. Pure functions of `aggregate.summarise`'s records.
"""

from s_cnn_rnn.reproduce import paired_test

ALPHA = 0.05
OUTCOMES = ("reproduced", "not separated", "contradicted", "not run")


def decide(paper_difference: float, test: dict) -> str:
    """The verdict of one claim on one metric from its paired test (`paired_test.paired_t_test`)."""
    if test["n"] == 0:
        return "not run"
    if test["p"] is None or test["p"] >= ALPHA:
        return "not separated"
    same_sign = (test["mean"] > 0) == (paper_difference > 0) and test["mean"] != 0 and paper_difference != 0
    return "reproduced" if same_sign else "contradicted"


def _missing(name: str, table_rows: tuple, records: dict, table_number: int) -> str | None:
    """Why row `name` has no measurements (None when it has)."""
    if name not in table_rows:
        return f"Table {table_number} has no row {name!r}"
    record = records.get(name)
    if record is None:
        return f"row {name} was not selected by --rows"
    if record["status"] != "done":
        return f"row {name} skipped: {record['reason']}"
    return None


def judge(claims: tuple, table_number: int, table_rows: tuple, records: list) -> list:
    """One verdict per claim and metric.

    Args:
      claims: the table's `claims.Claim`s.
      table_number: the table's number (for messages).
      table_rows: the names of the table's rows.
      records: `aggregate.summarise`'s records (name, status, reason, per_seed {seed: {metric: value}}).

    Returns:
      [{"claim", "text", "rows": [better, worse], "metric", "paper_difference", "mean_difference", "ci95",
        "std", "t", "p", "n", "seeds", "verdict", "reason"}], in the claims' order; "reason" says why a
      claim was not run or how a degenerate test was settled, else None.
    """
    by_name = {record["name"]: record for record in records}
    verdicts = []
    for claim in claims:
        missing = (_missing(claim.better, table_rows, by_name, table_number)
                   or _missing(claim.worse, table_rows, by_name, table_number))
        for metric in claim.metrics:
            paper = claim.paper_difference(metric)
            entry = {"claim": claim.id, "text": claim.text, "rows": [claim.better, claim.worse], "metric": metric,
                     "paper_difference": paper}
            if missing:
                verdicts.append({**entry, **_empty(), "seeds": [], "verdict": "not run", "reason": missing})
                continue
            better, worse = by_name[claim.better]["per_seed"], by_name[claim.worse]["per_seed"]
            seeds = [seed for seed in better if seed in worse
                     and better[seed][metric] is not None and worse[seed][metric] is not None]
            test = paired_test.paired_t_test([better[seed][metric] - worse[seed][metric] for seed in seeds])
            reason = test["note"]
            if not seeds:
                reason = f"no seed with a {metric} value in both rows, e.g. METEOR without Java"
            verdicts.append({**entry, "mean_difference": test["mean"], "ci95": test["ci95"], "std": test["std"],
                             "t": test["t"], "p": test["p"], "n": test["n"], "seeds": [int(seed) for seed in seeds],
                             "verdict": decide(paper, test), "reason": reason})
    return verdicts


def _empty() -> dict:
    return {"mean_difference": None, "ci95": None, "std": None, "t": None, "p": None, "n": 0}


def summary(verdicts: list) -> str:
    """The count of each outcome, e.g. "5 reproduced, 2 not separated, 0 contradicted, 1 not run"."""
    counts = {outcome: sum(verdict["verdict"] == outcome for verdict in verdicts) for outcome in OUTCOMES}
    return ", ".join(f"{counts[outcome]} {outcome}" for outcome in OUTCOMES)
