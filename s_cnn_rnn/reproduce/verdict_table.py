"""The verdicts of `verdicts.judge` as a compact Markdown table with a one-line count."""

from s_cnn_rnn.reproduce import verdicts as verdicts_lib

# Metric names as the paper prints them, where the metrics.json key differs.
_TITLES = {"ROUGE_L": "ROUGE-L", "Bleu_4": "B-4"}


def _signed(value, digits: int) -> str:
    return "n/a" if value is None else f"{round(value, digits) + 0.0:+.{digits}f}"


def markdown(verdicts: list, digits: int) -> str:
    """The section of table<N>.md: one line per claim and metric, and the count of each verdict.

    Args:
      verdicts: `verdicts.judge`'s list.
      digits: decimals of the table's values.
    """
    lines = ["## Claims of the paper, decided seed by seed", "",
             f"Paired t-test on the per-seed differences better - worse over the seeds both rows ran: "
             f"reproduced = the paper's sign and p < {verdicts_lib.ALPHA:g}, contradicted = the opposite sign and "
             f"p < {verdicts_lib.ALPHA:g}, else not separated. {verdicts_lib.summary(verdicts)}.", "",
             "| claim | paper | measured mean [95% CI] | p | n | verdict |", "|---|---|---|---|---|---|"]
    for verdict in verdicts:
        better, worse = verdict["rows"]
        claim = f"{better} - {worse}, {_TITLES.get(verdict['metric'], verdict['metric'])}"
        measured = _signed(verdict["mean_difference"], digits)
        if verdict["ci95"] is not None:
            low, high = verdict["ci95"]
            measured += f" [{_signed(low, digits)}, {_signed(high, digits)}]"
        p = "n/a" if verdict["p"] is None else f"{verdict['p']:.3g}"
        outcome = verdict["verdict"] + (f": {verdict['reason']}" if verdict["reason"] else "")
        lines.append(f"| {claim} | {_signed(verdict['paper_difference'], digits)} | {measured} | {p} | "
                     f"{verdict['n']} | {outcome} |")
    return "\n".join(lines) + "\n"
