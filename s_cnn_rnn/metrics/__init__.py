"""Evaluation metrics: multi-label C-/O- precision, recall, F1 (SPEC E1) and caption scores (E2).

`caption_scores` needs pycocoevalcap (and Java for the PTB tokenizer and METEOR); it is imported
on first use so that the multi-label metrics stay a pure-NumPy import.
"""

from s_cnn_rnn.metrics.multilabel import (
    METRIC_NAMES,
    PAPER_COLUMNS,
    format_table,
    multilabel_metrics,
    sequences_to_multi_hot,
    threshold_multi_hot,
    top_k_multi_hot,
)

__all__ = [
    "METRIC_NAMES",
    "PAPER_COLUMNS",
    "format_table",
    "multilabel_metrics",
    "sequences_to_multi_hot",
    "threshold_multi_hot",
    "top_k_multi_hot",
]
