"""The paper's tables, formatted: Table 1/2 (multi-label, x100) and Table 3/4 (captioning).

Pure Python (no TensorFlow): `s-cnn-rnn-demo` rebuilds tables and reads the headline metrics
from metrics.json (`table_from_summary`, `headline_metrics`).
"""

from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn.models import variants

CONVENTIONS = multilabel.CONVENTIONS
# SPEC I3: fixed-length classifiers predict their 3 best labels.
FIXED_LENGTH_K = 3
CONCEPT_THRESHOLD = 0.5

_ROW_NAMES = {
    "concept_top3": f"CNN+logistic (this model's concept layer, top-{FIXED_LENGTH_K})",
    "concept_threshold": f"CNN+logistic (this model's concept layer, p >= {CONCEPT_THRESHOLD})",
}
_CONVENTION_TEXT = {
    "pooled": "counts pooled over all images (default, as CNN-RNN [31])",
    "per_image": "per-image precision/recall averaged over images (the paper's wording)",
}
# Suffix of the columns that show the other convention's O-* beside the chosen one.
_CONVENTION_SUFFIX = {"pooled": "/pool", "per_image": "/img"}
_OVERALL_COLUMNS = ("O-R", "O-P", "O-F1")
# (table column, score_captions key), in the order of the paper's Table 3.
CAPTION_COLUMNS = (("B-1", "Bleu_1"), ("B-2", "Bleu_2"), ("B-3", "Bleu_3"), ("B-4", "Bleu_4"),
                   ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE_L"), ("CIDEr", "CIDEr"))


def model_name(config) -> str:
    """The paper's name for a model config: "S-CNN-RNN+Tag1K Fix", "NIC-F", "RIA", ..."""
    return variants.model_name(config.variant, config.use_tags, config.freeze_cnn, config.num_tags)


def multilabel_row_names(config, keys: list[str]) -> dict[str, str]:
    """Row key ("decoded", "concept_top3", "concept_threshold") -> the name printed in the table."""
    names = dict(_ROW_NAMES, decoded=f"{model_name(config)} (greedy decoding, variable length)")
    return {key: names[key] for key in keys}


def multilabel_table(by_convention: dict, row_names: dict, convention: str, num_images: int) -> str:
    """The paper's Table 1/2 columns (x100) in `convention`, the other convention's O-* beside them."""
    other = next(name for name in CONVENTIONS if name != convention)
    suffix = _CONVENTION_SUFFIX[other]
    rows = {
        row_names[key]: {**by_convention[convention][key],
                         **{column + suffix: by_convention[other][key][column] for column in _OVERALL_COLUMNS}}
        for key in row_names
    }
    columns = multilabel.PAPER_COLUMNS + tuple(column + suffix for column in _OVERALL_COLUMNS)
    header = (f"Multi-label annotation, {num_images} images, x100. O-R/O-P/O-F1: {_CONVENTION_TEXT[convention]}; "
              f"O-*{suffix}: {_CONVENTION_TEXT[other]}.")
    return header + "\n" + multilabel.format_table(rows, columns)


def caption_table(rows: dict, notes: dict, num_images: int) -> str:
    """The paper's Table 3/4 columns, 3 decimals; a score that could not be computed is "n/a"."""
    name_width = max([len("method")] + [len(name) for name in rows])
    widths = [max(6, len(column)) for column, _ in CAPTION_COLUMNS]
    header = "method".ljust(name_width) + "".join(
        f"  {column:>{width}}" for (column, _), width in zip(CAPTION_COLUMNS, widths))
    lines = [f"Captioning (coco-caption scores), {num_images} images.", header, "-" * len(header)]
    for name, scores in rows.items():
        cells = []
        for (_, key), width in zip(CAPTION_COLUMNS, widths):
            value = scores.get(key)
            cells.append(f"  {'n/a' if value is None else f'{value:.3f}':>{width}}")
        lines.append(name.ljust(name_width) + "".join(cells))
    lines.extend(f"note: {name}: {reason}" for name, reason in notes.items())
    return "\n".join(lines)


def _caption_table_from_summary(summary: dict) -> str:
    beam_width = summary.get("decoding", {}).get("beam_width", 3)
    return caption_table({f"{summary['model_name']} (beam {beam_width})": summary["metrics"]},
                         summary.get("notes", {}), summary["num_images"])


def _multilabel_table_from_summary(summary: dict) -> str:
    return multilabel_table(summary["metrics_by_convention"], summary["rows"], summary["convention"],
                            summary["num_images"])


# Task name -> (the table out of a metrics.json payload, the decoded outputs' metrics out of it).
FROM_SUMMARY = {
    "caption": (_caption_table_from_summary, lambda summary: summary["metrics"]),
    "multilabel": (_multilabel_table_from_summary, lambda summary: summary["metrics"]["decoded"]),
}


def table_from_summary(summary: dict) -> str:
    """The paper's table rebuilt from a metrics.json payload (its "task" picks which)."""
    return FROM_SUMMARY[summary["task"]][0](summary)


def headline_metrics(summary: dict) -> dict:
    """The decoded outputs' metrics out of a metrics.json payload ({metric: value})."""
    return FROM_SUMMARY[summary["task"]][1](summary)
