"""The ablation's results for people: seed statistics, Table 2/4 style tables, the curves figure.

Pure functions of the run records that `bench/ablation.py` collects (one dict per task, variant and
seed: "test_metrics" as metrics.json has them, "loss_curve" [{"image_step", "val_L_r", "val_L_u",
...}], "metric_curve" [{"image_step", "metrics"}], "train_seconds"). Matplotlib is imported only
when the figure is drawn.
"""

import math
import os
import statistics

from bench import ablation_worker as worker  # no TensorFlow
from s_cnn_rnn.models import variants  # no TensorFlow


def label(variant: str, use_tags: bool) -> str:
    """A run's name in the tables: the model's name, and the paper's row name where it differs
    ("S-CNN-RNN (Ours)", "S-CNN-RNN+Tag1K (Ours+Tag1K)", "NIC-F")."""
    name = variants.model_name(variant, use_tags=use_tags)
    row = variants.paper_row(variant, use_tags=use_tags)
    return name if row in (None, name) else f"{name} ({row})"


NAMES = {key: label(variant, use_tags) for key, (variant, use_tags) in worker.VARIANTS.items()}
COLORS = {"s_cnn_rnn": "tab:red", "s_cnn_rnn_tag1k": "tab:purple", "nic_deeply": "tab:blue",
          "nic_f": "tab:green", "cnn_logistic": "tab:gray"}
# Table 2 (x100) and Table 4 columns; (column, metrics.json key).
MULTILABEL_COLUMNS = (("C-R", "C-R"), ("C-P", "C-P"), ("C-F1", "C-F1"), ("O-R", "O-R"), ("O-P", "O-P"),
                      ("O-F1", "O-F1"))
CAPTION_COLUMNS = (("CIDEr", "CIDEr"), ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE_L"), ("B-4", "Bleu_4"))
# The number each curve and headline follows.
KEY_METRIC = {"multilabel": "O-F1", "caption": "CIDEr"}
# Multi-label rows: (metrics.json row, label suffix). A model without a decoder (CNN+logistic)
# predicts its top 3 (SPEC I3, as the paper); its p >= 0.5 reading is shown too because it is not
# bound to 3 labels.
_FIXED_LENGTH_ROWS = (("concept_top3", " (top-3)"), ("concept_threshold", " (p>=0.5)"))
_DECODED_ROWS = (("decoded", ""),)
_STAGES = variants.STAGE_ORDER


def rows_of(task: str, variant: str, metrics: dict) -> dict:
    """{table row label: {metric: value}} of one run's test metrics."""
    if task == "caption":
        return {NAMES[variant]: metrics}
    decodes = variants.get(worker.VARIANTS[variant][0]).has_decoder
    return {NAMES[variant] + suffix: metrics[row] for row, suffix in (_DECODED_ROWS if decodes else _FIXED_LENGTH_ROWS)}


def key_value(task: str, variant: str, metrics: dict) -> float | None:
    """The run's headline number: O-F1 of its first row (multi-label) or CIDEr."""
    return next(iter(rows_of(task, variant, metrics).values())).get(KEY_METRIC[task])


def headline(task: str, variant: str, metrics: dict) -> str:
    value = key_value(task, variant, metrics)
    scale = 100 if task == "multilabel" else 1
    return f"{KEY_METRIC[task]} {'n/a' if value is None else f'{value * scale:.3f}'}"


def stats(values: list) -> dict:
    """Mean, sample std (0 for one value), min, max and n of the finite values."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values), "values": values}


def summarise(runs: list) -> dict:
    """{task: {variant: {"rows": {label: {metric: stats}}, "train_seconds": stats, "seeds": [...]}}}."""
    grouped: dict = {}
    for run in runs:
        grouped.setdefault(run["task"], {}).setdefault(run["variant"], []).append(run)
    summary = {}
    for task, by_variant in grouped.items():
        summary[task] = {}
        for variant, variant_runs in by_variant.items():
            per_row: dict = {}
            for run in variant_runs:
                for label, metrics in rows_of(task, variant, run["test_metrics"]).items():
                    for metric, value in metrics.items():
                        per_row.setdefault(label, {}).setdefault(metric, []).append(value)
            final_l_r = [[r["val_L_r"] for r in run["loss_curve"] if r.get("val_L_r") is not None][-1:]
                         for run in variant_runs]
            summary[task][variant] = {
                "rows": {label: {m: stats(v) for m, v in metrics.items()} for label, metrics in per_row.items()},
                "train_seconds": stats([run["train_seconds"] for run in variant_runs]),
                "final_val_L_r": stats([values[0] for values in final_l_r if values]),
                "seeds": [run["seed"] for run in variant_runs],
                "budget": variant_runs[0]["budget"],
            }
    return summary


def _cell(stat: dict, scale: float, digits: int) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean'] * scale:.{digits}f}±{stat['std'] * scale:.{digits}f}"


def tables(summary: dict, config: dict) -> str:
    """Table 2 (multi-label, x100) and Table 4 (captions) layouts: mean±std over seeds, the key
    metric's [min, max], mean training seconds, and the budget of each variant."""
    blocks = []
    for task, by_variant in summary.items():
        columns = MULTILABEL_COLUMNS if task == "multilabel" else CAPTION_COLUMNS
        scale, digits = (100, 2) if task == "multilabel" else (1, 3)
        key = KEY_METRIC[task]
        seeds = config.get("seeds", [])
        title = ("Table 2 (multi-label, test split, x100)" if task == "multilabel"
                 else "Table 4 (captions, test split, beam 3)")
        lines = [f"{title}: mean±std over seeds {seeds}; step_scale {config.get('step_scale')}, "
                 f"image steps per run {sum(config['steps'][task][s] for s in ('cnn', 'joint'))}"]
        rows = [(label, variant, row) for variant, entry in by_variant.items() for label, row in entry["rows"].items()]
        width = max([len("method")] + [len(label) for label, _, _ in rows])
        cell_width = 13 if task == "multilabel" else 12
        header = "method".ljust(width) + "".join(f"  {name:>{cell_width}}" for name, _ in columns)
        header += f"  {key + ' [min, max]':>22}  {'val L_r':>7}  {'train s':>7}  stages (steps)"
        lines += [header, "-" * len(header)]
        for label, variant, row in rows:
            entry = by_variant[variant]
            cells = "".join(f"  {_cell(row.get(metric, stats([])), scale, digits):>{cell_width}}"
                            for _, metric in columns)
            key_stat = row.get(key, stats([]))
            spread = ("n/a" if key_stat["mean"] is None
                      else f"[{key_stat['min'] * scale:.{digits}f}, {key_stat['max'] * scale:.{digits}f}]")
            budget = " ".join(f"{stage} {entry['budget'][stage]}" for stage in _STAGES if stage in entry["budget"])
            l_r = entry["final_val_L_r"]["mean"]
            lines.append(f"{label.ljust(width)}{cells}  {spread:>22}  {'-' if l_r is None else f'{l_r:.2f}':>7}  "
                         f"{entry['train_seconds']['mean']:>7.0f}  {budget}")
        lines.append("val L_r: validation sequence loss at the end (mean over seeds); the decoder's "
                     "updates are its rnn + joint steps; train s: wall seconds of the training process "
                     "on the shared CPU.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def means_line(summary: dict, wall_seconds: float) -> dict:
    """The last printed line: {task: {row label: {column: mean}}} (fractions, as metrics.json)."""
    line = {"wall_seconds": wall_seconds}
    for task, by_variant in summary.items():
        columns = MULTILABEL_COLUMNS if task == "multilabel" else CAPTION_COLUMNS
        line[task] = {label: {name: (None if row.get(metric) is None or row[metric]["mean"] is None
                                     else round(row[metric]["mean"], 4)) for name, metric in columns}
                      for entry in by_variant.values() for label, row in entry["rows"].items()}
    return line


# ----------------------------------------------------------------------------- curves


def mean_curve(points: list) -> tuple[list, list, list, list]:
    """[(x, y)] pooled over seeds -> xs, means, mins, maxs (one per distinct x, ascending)."""
    by_x: dict = {}
    for x, y in points:
        if y is not None:
            by_x.setdefault(x, []).append(y)
    xs = sorted(by_x)
    return (xs, [statistics.fmean(by_x[x]) for x in xs], [min(by_x[x]) for x in xs], [max(by_x[x]) for x in xs])


def curve_points(runs: list, task: str, variant: str, panel: str) -> list:
    """[(image step, value)] of one panel ("val_L_r", "val_L_u" or "metric") over a variant's seeds."""
    points = []
    for run in runs:
        if run["task"] != task or run["variant"] != variant:
            continue
        if panel == "metric":
            points += [(p["image_step"], key_value(task, variant, p["metrics"])) for p in run["metric_curve"]]
        else:
            points += [(r["image_step"], r.get(panel)) for r in run["loss_curve"]]
    return points


_PANELS = (("val_L_r", "val L_r (label/caption sequence loss)"), ("val_L_u", "val L_u (concept loss)"),
           ("metric", None))


def plot_curves(runs: list, path: str) -> str:
    """One row per task: val L_r, val L_u and the val metric against image steps; mean over seeds
    with the min-max band. Written atomically; returns `path`."""
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    tasks = list(dict.fromkeys(run["task"] for run in runs))
    figure, axes = pyplot.subplots(len(tasks), len(_PANELS), figsize=(15, 4.2 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        variants = list(dict.fromkeys(run["variant"] for run in runs if run["task"] == task))
        for column, (panel, title) in enumerate(_PANELS):
            ax = axes[row][column]
            for variant in variants:
                xs, means, lows, highs = mean_curve(curve_points(runs, task, variant, panel))
                if not xs:
                    continue
                color = COLORS.get(variant)
                ax.plot(xs, means, marker="o", markersize=3, color=color, label=NAMES[variant])
                if any(low != high for low, high in zip(lows, highs)):
                    ax.fill_between(xs, lows, highs, color=color, alpha=0.15, linewidth=0)
            reading = "decoded; CNN+logistic top-3" if task == "multilabel" else "beam 3"
            metric_title = f"val {KEY_METRIC[task]} ({reading})"
            key = "metric_curve" if panel == "metric" else "loss_curve"
            seeds = sorted({run["seed"] for run in runs if run["task"] == task and run[key]})
            ax.set_title(f"{task}: {title or metric_title}\nmean of seeds {seeds}, band: min-max", fontsize=10)
            ax.set_xlabel("image steps (batches of images seen; rnn-stage steps excluded)")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    figure.tight_layout()
    temporary = f"{path}.tmp-{os.getpid()}.png"
    figure.savefig(temporary, dpi=90)
    pyplot.close(figure)
    os.replace(temporary, path)
    return path
