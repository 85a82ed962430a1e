"""A table's numbers: each row's mean +- std over seeds, its difference from the paper in every cell,
and its paired per-seed difference from the reference row "Ours".

Pure functions of plain dicts (no TensorFlow, no files). Values are in the paper's units: the
metrics.json value times the table's scale (x100 for the multi-label tables).
"""

import math
import statistics

from s_cnn_rnn.reproduce import tables as tables_lib


def row_values(table: tables_lib.Table, row: tables_lib.Row, metrics: dict) -> dict:
    """{column: value in the paper's units} of one evaluation (metrics.json's "metrics"); None for a
    score that could not be computed (e.g. METEOR without Java).

    Raises:
      ValueError: the metrics lack the row the table reads (a model of another task or variant).
    """
    metrics_row = table.metrics_row(row)
    if metrics_row is not None:
        if metrics_row not in metrics:
            raise ValueError(f"the evaluation has no {metrics_row!r} row (it has {sorted(metrics)}): "
                             f"{row.key} was not trained as a {table.task} model of its variant")
        metrics = metrics[metrics_row]
    values = {}
    for column in table.columns:
        value = metrics.get(column)
        values[column] = None if value is None or not math.isfinite(value) else value * table.scale
    return values


def mean_std(values: list) -> dict:
    """{"mean", "std", "n"} of the numbers in `values` (None skipped); std is the sample standard
    deviation, None for fewer than 2 numbers; mean None for none."""
    numbers = [value for value in values if value is not None]
    return {"mean": statistics.fmean(numbers) if numbers else None,
            "std": statistics.stdev(numbers) if len(numbers) > 1 else None, "n": len(numbers)}


def _difference(a, b):
    return None if a is None or b is None else a - b


def summarise(table: tables_lib.Table, per_seed: dict, skipped: dict, seeds: list) -> list:
    """One record per row of `table` (the paper's order).

    Args:
      table: the table.
      per_seed: {row key: {seed: {column: value}}} of the rows that ran.
      skipped: {row key: reason} of the rows that could not run on this data.
      seeds: the seeds asked for.

    Returns:
      [{"key", "name", "status": "done" | "skipped", "reason", "seeds", "per_seed", "mean", "std",
        "paper", "minus_paper", "paired_minus_reference"}]: mean/std/paper/minus_paper map each
      column to a number or None; paired_minus_reference maps each column to {"per_seed": {seed:
      row - reference}, "mean", "std", "n"} over the seeds both rows have (None for the reference
      row itself or when it did not run).
    """
    reference = next((row for row in table.rows if row.name == tables_lib.REFERENCE_ROW), None)
    reference_values = per_seed.get(reference.key) if reference else None
    records = []
    for row in table.rows:
        if row.key not in per_seed and row.key not in skipped:
            continue  # not selected
        paper = {column: table.paper.get(row.name, {}).get(column) for column in table.columns}
        record = {"key": row.key, "name": row.name, "flagfile": row.flagfile, "paper": paper}
        if row.key in skipped:
            records.append({**record, "status": "skipped", "reason": skipped[row.key]})
            continue
        values = per_seed[row.key]
        stats = {column: mean_std([values[seed][column] for seed in values]) for column in table.columns}
        record.update(status="done", reason=None, seeds=sorted(values),
                      per_seed={str(seed): values[seed] for seed in sorted(values)},
                      mean={column: stats[column]["mean"] for column in table.columns},
                      std={column: stats[column]["std"] for column in table.columns},
                      minus_paper={column: _difference(stats[column]["mean"], paper[column])
                                   for column in table.columns})
        paired = None
        if reference_values is not None and row is not reference:
            common = [seed for seed in seeds if seed in values and seed in reference_values]
            paired = {}
            for column in table.columns:
                differences = {str(seed): _difference(values[seed][column], reference_values[seed][column])
                               for seed in common}
                paired[column] = {"per_seed": differences, **mean_std(list(differences.values()))}
        record["paired_minus_reference"] = paired
        records.append(record)
    return records
