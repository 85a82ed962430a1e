"""A reproduced table for people and programs: Markdown, the JSON payload, a PNG bar chart.

Input: the records of `aggregate.summarise` and the run's settings. Matplotlib (Agg) is imported only
when the chart is drawn. Every file is written atomically.
"""

import os

from s_cnn_rnn import atomic_files
from s_cnn_rnn.reproduce import tables as tables_lib
from s_cnn_rnn.reproduce import verdict_table


def _number(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    value = round(value, digits) + 0.0  # no "-0.000" for a difference that rounds to zero
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _spread(mean, std, digits: int, signed: bool = False) -> str:
    text = _number(mean, digits, signed)
    return text if std is None or mean is None else f"{text}±{std:.{digits}f}"


def grid_score(score) -> str:
    """An lr grid factor's validation score as printed; None is a run whose loss diverged."""
    return "diverged" if score is None else f"{score:.4f}"


def _titles(table: tables_lib.Table) -> list:
    return [tables_lib.COLUMN_TITLES.get(column, column) for column in table.columns]


def markdown(table: tables_lib.Table, records: list, settings: dict, verdicts: list | None = None) -> str:
    """The table beside the paper's (each cell: measured, paper, difference), the paired
    per-seed differences from "Ours" and the verdict on each of the paper's claims (`verdicts.judge`,
    when given); skipped rows carry their reason."""
    digits = table.digits
    header = "| row | " + " | ".join(_titles(table)) + " |"
    rule = "|---" * (len(table.columns) + 1) + "|"
    seeds = ", ".join(str(seed) for seed in settings["seeds"])
    lines = [f"## Table {table.number}: {table.title}, measured beside the paper", "",
             f"Seeds {seeds}; {_protocol_text(settings)}; split {settings['split']}; data {settings['data_dir']}. "
             "Each cell: measured mean±std over the seeds (paper; measured - paper).", "", header, rule]
    for record in records:
        if record["status"] == "skipped":
            lines.append(f"| {record['name']} | skipped: {record['reason']} |" + " |" * (len(table.columns) - 1))
            continue
        cells = [f"{_spread(record['mean'][c], record['std'][c], digits)} ({_number(record['paper'][c], digits)}; "
                 f"{_number(record['minus_paper'][c], digits, signed=True)})" for c in table.columns]
        lines.append(f"| {record['name']} | " + " | ".join(cells) + " |")
    selected = [record for record in records if record.get("lr_selection")]
    if selected:
        lines += ["", f"Learning rates picked on the validation split (seed {selected[0]['lr_selection']['seed']}, "
                  "the flagfile's rates times each factor; the chosen one in bold):", ""]
        for record in selected:
            selection = record["lr_selection"]
            scores = ", ".join((f"**x{factor} {grid_score(score)}**" if float(factor) == selection["chosen"] else
                                f"x{factor} {grid_score(score)}") for factor, score in selection["scores"].items())
            lines.append(f"- {record['name']}: {selection['metric']} {scores}")
    lines += _efficiency_lines(table, records)
    paired = [record for record in records if record.get("paired_minus_reference")]
    if paired:
        lines += ["", f"Paired differences from {tables_lib.REFERENCE_ROW}, seed by seed (row - "
                  f"{tables_lib.REFERENCE_ROW}; mean±std over the seeds both ran; per seed in the JSON):", "",
                  header, rule]
        for record in paired:
            cells = [_spread(record["paired_minus_reference"][c]["mean"], record["paired_minus_reference"][c]["std"],
                             digits, signed=True) for c in table.columns]
            lines.append(f"| {record['name']} | " + " | ".join(cells) + " |")
    if verdicts:
        lines += ["", verdict_table.markdown(verdicts, digits).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _protocol_text(settings: dict) -> str:
    """How the rows were trained, in one clause."""
    if settings.get("protocol") == "fair":
        budget = settings["budget"]
        return (f"fair protocol (every CNN {budget['cnn_steps']}+{budget['joint_steps']} image steps, every decoder "
                f"{budget['decoder_steps']} updates before the joint stage, tag MLP {budget['tags_steps']}; every "
                f"run --deterministic), --scale={settings['scale']:g}")
    return f"each row's flagfile, --scale={settings['scale']:g}"


# The efficiency table's columns: (title, summary key, digits); each cell the mean±std over the seeds.
EFFICIENCY_COLUMNS = (("best val score", "best", 3), ("final stage steps to 90%", "stage_steps_to_90", 0),
                      ("final stage CPU s to 90%", "stage_cpu_seconds_to_90", 1),
                      ("run CPU s to 90%", "cpu_seconds_to_90", 1), ("training CPU s", "total_cpu_seconds", 1),
                      ("training wall s", "total_wall_seconds", 1), ("image steps", "image_steps", 0))


def _efficiency_lines(table: tables_lib.Table, records: list) -> list:
    """The training-cost table (`reproduce/efficiency.py` `summary`): Markdown lines, [] without costs."""
    costs = [record for record in records if record.get("efficiency")]
    if not costs:
        return []
    rule = costs[0]["efficiency"]["image_step_rule"]
    lines = ["", "Training cost, mean±std over the seeds (validation excluded; CPU seconds: the training "
             "process', which charge every pass at its cost, a frozen CNN's forward pass included; \"to 90%\": "
             "the first validation reaching 90% of that curve's best score; the final stage (joint; "
             "CNN+logistic: cnn) counted from its own step 0, which scores what the earlier stages handed over; "
             f"{rule}; table{table.number}_efficiency.png):", "",
             "| row | final stage | " + " | ".join(title for title, _, _ in EFFICIENCY_COLUMNS) + " |",
             "|---" * (len(EFFICIENCY_COLUMNS) + 2) + "|"]
    for record in costs:
        cost = record["efficiency"]
        cells = [_spread(cost.get(key), cost.get(f"{key}_std"), digits) for _, key, digits in EFFICIENCY_COLUMNS]
        lines.append(f"| {record['name']} | {cost.get('stage') or 'n/a'} | " + " | ".join(cells) + " |")
    return lines


def payload(table: tables_lib.Table, records: list, settings: dict, verdicts: list | None = None) -> dict:
    """The JSON file: the table's identity, the run's settings, one record per row and the claims' verdicts."""
    return {"table": table.number, "title": table.title, "task": table.task, "columns": list(table.columns),
            "units": "x100" if table.scale == 100 else "fraction", "reference_row": tables_lib.REFERENCE_ROW,
            "settings": settings, "rows": records, "verdicts": verdicts or []}


def bar_chart(table: tables_lib.Table, records: list, path: str) -> str:
    """One panel per column: each row's measured mean (error bar: std over seeds) beside the paper's
    value. Returns `path`."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    names = [record["name"] for record in records]
    figure, axes = pyplot.subplots(1, len(table.columns), figsize=(2.6 * len(table.columns) + 1, 3.8), squeeze=False)
    positions = list(range(len(records)))
    for ax, column, title in zip(axes[0], table.columns, _titles(table)):
        measured = [record["mean"][column] if record["status"] == "done" else None for record in records]
        errors = [(record["std"][column] or 0.0) if record["status"] == "done" else 0.0 for record in records]
        paper = [record["paper"][column] for record in records]
        ax.bar([p - 0.2 for p in positions], [m or 0.0 for m in measured], width=0.4, yerr=errors,
               color="tab:red", label="measured", capsize=2)
        ax.bar([p + 0.2 for p in positions], [v or 0.0 for v in paper], width=0.4, color="tab:gray", label="paper")
        for position, value in zip(positions, measured):
            if value is None:
                ax.text(position - 0.2, 0, "n/a", rotation=90, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(positions)
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(f"Table {table.number}: {table.title}", fontsize=10)
    figure.tight_layout()
    with atomic_files.replacing(path) as temporary:
        figure.savefig(temporary, dpi=90, format="png")
    pyplot.close(figure)
    return path


def write_all(table: tables_lib.Table, records: list, settings: dict, output_dir: str,
              verdicts: list | None = None) -> dict:
    """Writes OUTPUT_DIR/table<N>.md, .json and .png; returns {"markdown", "json", "png": path}."""
    stem = os.path.join(output_dir, f"table{table.number}")
    paths = {"markdown": f"{stem}.md", "json": f"{stem}.json", "png": f"{stem}.png"}
    atomic_files.write_text(paths["markdown"], markdown(table, records, settings, verdicts))
    atomic_files.write_json(paths["json"], payload(table, records, settings, verdicts))
    bar_chart(table, records, paths["png"])
    return paths
