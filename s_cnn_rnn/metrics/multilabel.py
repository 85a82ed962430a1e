"""Multi-label annotation metrics (SPEC E1, I3): C-P, C-R, C-F1, O-P, O-R, O-F1.

Pure NumPy, vectorised, no TensorFlow: the evaluator decodes on the accelerator and hands the
multi-hot matrices to these functions on the host.

Definitions (paper Sec. 4.2 and its reference [31], Wang et al., "CNN-RNN", CVPR 2016), with
`tp_c`, `pred_c`, `true_c` the true-positive, predicted and ground-truth counts of class `c`:

* C-P = mean over classes of `tp_c / pred_c`; C-R = mean over classes of `tp_c / true_c`.
* C-F1 = harmonic mean of C-P and C-R -- NOT the mean of the per-class F1 scores (the paper and
  [31] compute it this way; the mean of per-class F1s is a different, usually lower, number).
* O-P, O-R, two conventions (SPEC E1 asks to name one and offer the other):
  - "pooled" (default, as [31]): counts pooled over all images, `sum tp / sum pred` and
    `sum tp / sum true`.
  - "per_image" (the paper's wording, "averaged over all samples"): per-image precision and
    recall averaged over images.
* O-F1 = harmonic mean of O-P and O-R. Any F1 whose P + R is 0 is 0.

Degenerate cases, named so that tables state what they measured:

* A class that is never predicted has precision 0 (not "undefined, skipped"): a model that never
  emits a class is penalised for it. Likewise an image with no predicted label has precision 0
  in "per_image".
* A class with no ground-truth positive (possible in a small test split) has recall 0 and still
  counts in the C-* averages by default (`empty_truth="zero"`). The common alternative, leaving
  such classes out of both C-P and C-R (`empty_truth="exclude"`), is a keyword away. The same
  choice applies to images without ground-truth labels in the "per_image" O-* averages; it never
  changes the "pooled" O-* figures (their false positives still count in O-P).

Example:
    >>> y_true = np.array([[1, 0], [1, 1]])
    >>> y_pred = np.array([[1, 1], [0, 1]])
    >>> round(multilabel_metrics(y_true, y_pred)["O-P"], 4)  # 2 hits out of 3 predictions
    0.6667
"""

from typing import Mapping, Optional, Sequence

import numpy as np

METRIC_NAMES = ("C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1")
# The column order of the paper's Tables 1 and 2.
PAPER_COLUMNS = ("C-R", "C-P", "C-F1", "O-R", "O-P", "O-F1")
CONVENTIONS = ("pooled", "per_image")
EMPTY_TRUTH_CHOICES = ("zero", "exclude")


def _as_multi_hot(matrix, name: str) -> np.ndarray:
    """Checks a 0/1 (or bool) matrix `[N, C]` and returns it as bool."""
    array = np.asarray(matrix)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [images, classes] matrix, got shape {array.shape}")
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be bool or numeric 0/1, got dtype {array.dtype}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(
            f"{name} must hold only 0 and 1; turn scores into labels first with "
            "top_k_multi_hot() or threshold_multi_hot()"
        )
    return array.astype(bool)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )


def _harmonic_mean(precision: float, recall: float) -> float:
    total = precision + recall
    return 0.0 if total == 0 else 2.0 * precision * recall / total


def _mean_over_units(
    tp: np.ndarray, predicted: np.ndarray, positives: np.ndarray, empty_truth: str
) -> tuple[float, float]:
    """Mean precision and recall over units (classes or images), each given by its counts `[U]`."""
    keep = positives > 0 if empty_truth == "exclude" else np.ones_like(positives, dtype=bool)
    if not keep.any():
        return 0.0, 0.0
    precision = _safe_ratio(tp[keep], predicted[keep]).mean()
    recall = _safe_ratio(tp[keep], positives[keep]).mean()
    return float(precision), float(recall)


def multilabel_metrics(
    y_true,
    y_pred,
    convention: str = "pooled",
    empty_truth: str = "zero",
) -> dict[str, float]:
    """Per-class and overall precision, recall and F1 of multi-label predictions.

    See the module docstring for the exact definitions and degenerate cases.

    Args:
        y_true: `[N, C]` ground-truth multi-hot, bool or 0/1.
        y_pred: `[N, C]` predicted multi-hot, bool or 0/1 (e.g. from `top_k_multi_hot`).
        convention: how O-P/O-R are formed: "pooled" (counts over all images, as [31]) or
            "per_image" (per-image precision/recall averaged over images, the paper's text).
        empty_truth: a class (or, in "per_image", an image) with no ground-truth positive:
            "zero" keeps it in the averages with recall 0; "exclude" leaves it out of them.

    Returns:
        `{"C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"}` as fractions in [0, 1].

    Raises:
        ValueError: shapes differ, are not 2-D or have no image/class, values are not 0/1, or an
            unknown `convention` / `empty_truth`.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if empty_truth not in EMPTY_TRUTH_CHOICES:
        raise ValueError(f"empty_truth must be one of {EMPTY_TRUTH_CHOICES}, got {empty_truth!r}")
    truth = _as_multi_hot(y_true, "y_true")
    predicted = _as_multi_hot(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise ValueError(f"y_true {truth.shape} and y_pred {predicted.shape} differ in shape")
    if truth.size == 0:
        raise ValueError(f"need at least one image and one class, got shape {truth.shape}")

    hits = truth & predicted  # [N, C]
    class_p, class_r = _mean_over_units(
        hits.sum(axis=0), predicted.sum(axis=0), truth.sum(axis=0), empty_truth
    )
    if convention == "pooled":
        overall_p = float(_safe_ratio(hits.sum(), predicted.sum()))
        overall_r = float(_safe_ratio(hits.sum(), truth.sum()))
    else:
        overall_p, overall_r = _mean_over_units(
            hits.sum(axis=1), predicted.sum(axis=1), truth.sum(axis=1), empty_truth
        )
    return {
        "C-P": class_p,
        "C-R": class_r,
        "C-F1": _harmonic_mean(class_p, class_r),
        "O-P": overall_p,
        "O-R": overall_r,
        "O-F1": _harmonic_mean(overall_p, overall_r),
    }


def sequences_to_multi_hot(
    sequences, num_classes: int, offset: int = 3, end_id: Optional[int] = None
) -> np.ndarray:
    """Decoded label-token sequences -> multi-hot label matrix.

    Label token `offset + c` is class `c` (the label vocabulary puts `<pad> <start> <end>` first,
    so `offset` is 3). Tokens below `offset` (pad and the other specials) are ignored; a label
    repeated in a sequence counts once.

    Args:
        sequences: `[N, T]` integer array, or a list of N integer sequences of any lengths.
        num_classes: C, the number of labels.
        offset: id of the first label token.
        end_id: if given, tokens after the first `end_id` of a sequence are ignored (for decoders
            that keep emitting after `<end>`); None reads every token.

    Returns:
        `[N, C]` bool.

    Raises:
        ValueError: a token id at or above `offset + num_classes`, or non-integer tokens.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    tokens = _pad_sequences(sequences, fill_value=min(offset, 0) - 1)  # [N, T], fill ignored
    ignored = tokens < offset
    if end_id is not None:
        ignored |= np.cumsum(tokens == end_id, axis=1) > 0  # at and after the first <end>
    if (tokens[~ignored] >= offset + num_classes).any():
        bad_token = int(tokens[~ignored].max())
        raise ValueError(
            f"label token {bad_token} is beyond the {num_classes} labels starting at token "
            f"{offset}; is num_classes the number of lines of labels.txt?"
        )
    image_index, step_index = np.nonzero(~ignored)
    multi_hot = np.zeros((tokens.shape[0], num_classes), dtype=bool)
    multi_hot[image_index, tokens[image_index, step_index] - offset] = True
    return multi_hot


def _pad_sequences(sequences, fill_value: int) -> np.ndarray:
    """A `[N, T]` integer array, or N sequences of any lengths, as one `[N, T_max]` int64 array."""
    if isinstance(sequences, np.ndarray) or hasattr(sequences, "numpy"):  # NumPy or eager tensor
        array = np.asarray(sequences)
        if array.ndim != 2:
            raise ValueError(f"sequences must be a 2-D [images, steps] array, got {array.shape}")
        _check_integer_tokens(array, "sequences")
        return array.astype(np.int64)
    rows = [np.asarray(sequence).reshape(-1) for sequence in sequences]
    for row_index, row in enumerate(rows):
        _check_integer_tokens(row, f"sequence {row_index}")
    padded = np.full((len(rows), max([row.size for row in rows], default=0)), fill_value, np.int64)
    for row_index, row in enumerate(rows):
        padded[row_index, : row.size] = row
    return padded


def _check_integer_tokens(tokens: np.ndarray, name: str) -> None:
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"{name} holds non-integer tokens ({tokens.dtype})")


def _as_scores(scores) -> np.ndarray:
    array = np.asarray(scores)
    if array.ndim != 2:
        raise ValueError(f"scores must be a 2-D [images, classes] matrix, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or array.dtype == bool:
        raise ValueError(f"scores must be numeric, got dtype {array.dtype}")
    if np.isnan(array).any():
        raise ValueError("scores contain NaN")
    return array.astype(np.float64)  # also makes negation safe for unsigned integer scores


def top_k_multi_hot(scores, k: int = 3) -> np.ndarray:
    """The k highest-scoring classes of each image (SPEC I3: fixed-length models predict top 3).

    Ties are broken deterministically: among equal scores the lower class index wins.

    Args:
        scores: `[N, C]` numeric (probabilities or logits; -inf is allowed, NaN is not).
        k: labels per image, 1 <= k <= C.

    Returns:
        `[N, C]` bool with exactly k True per row.
    """
    array = _as_scores(scores)
    num_classes = array.shape[1]
    if not 1 <= k <= num_classes:
        raise ValueError(f"k must be in [1, {num_classes}] for {num_classes} classes, got {k}")
    # A stable sort of the negated scores keeps equal scores in index order.
    top_indices = np.argsort(-array, axis=1, kind="stable")[:, :k]  # [N, k]
    multi_hot = np.zeros(array.shape, dtype=bool)
    np.put_along_axis(multi_hot, top_indices, True, axis=1)
    return multi_hot


def threshold_multi_hot(scores, threshold: float = 0.5) -> np.ndarray:
    """Every class whose score is >= threshold (an image may get no label at all).

    Args:
        scores: `[N, C]` numeric, usually sigmoid probabilities.
        threshold: the cut-off, inclusive.

    Returns:
        `[N, C]` bool.
    """
    return _as_scores(scores) >= threshold


def format_table(
    rows: Mapping[str, Mapping[str, Optional[float]]],
    columns: Sequence[str] = PAPER_COLUMNS,
) -> str:
    """A plain-text table of metric rows, values x100 with 2 decimals, in the paper's column order.

    Args:
        rows: row name -> metrics dict as returned by `multilabel_metrics` (fractions). A metric
            that is missing or None prints as "-" (e.g. a published row without that column).
        columns: metric names, left to right.

    Returns:
        The table as one string (header, rule, one line per row), no trailing newline.
    """
    name_width = max([len("method")] + [len(name) for name in rows])
    column_width = max([6] + [len(column) for column in columns])
    lines = [
        "method".ljust(name_width) + "".join(f"  {column:>{column_width}}" for column in columns)
    ]
    lines.append("-" * len(lines[0]))
    for name, metrics in rows.items():
        cells = []
        for column in columns:
            value = metrics.get(column)
            text = "-" if value is None else f"{100.0 * value:.2f}"
            cells.append(f"  {text:>{column_width}}")
        lines.append(name.ljust(name_width) + "".join(cells))
    return "\n".join(lines)
