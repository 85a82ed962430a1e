"""Scores a decoded split against its ground truth: the rows of the paper's tables and predictions.jsonl.

* Multi-label (SPEC E1, I1, I3): the decoded label sequences (greedy; the model decides how
  many labels) in both O-* conventions, plus the model's own concept layer read as a
  fixed-length classifier (top-3, and p >= 0.5). cnn_logistic has only the latter rows.
* Captions (SPEC E2, I2): the best of the beam per image, scored by coco-caption against the
  reference captions stored in the records.

`score` picks the function by the model's task; `decode_split` gives its `decoded` input.
"""

import numpy as np

from s_cnn_rnn import record_schema
from s_cnn_rnn import inference
from s_cnn_rnn.evaluation import references as references_lib
from s_cnn_rnn.evaluation.tables import CONCEPT_THRESHOLD, CONVENTIONS, FIXED_LENGTH_K
from s_cnn_rnn.evaluation.tables import caption_table, model_name, multilabel_row_names, multilabel_table
from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics import multilabel

# Captions: concepts kept per image in predictions.jsonl, by probability (the report leaves the
# function words among them out, see evaluation/report.py STOP_WORDS).
CAPTION_CONCEPTS_KEPT = 20


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: a log-probability of a beam that never finished becomes null."""
    return float(value) if value is not None and np.isfinite(value) else None


def _top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """`[N, k]` indices of the k best scores, ties to the lower index (as `top_k_multi_hot`)."""
    return np.argsort(-probs.astype(np.float64), axis=1, kind="stable")[:, :k]


def _absent_classes(truth: np.ndarray, labels, exclude: bool) -> tuple[dict, str]:
    """metrics.json's "absent_classes" and the table's note: classes with no positive among the
    evaluated images, whose recall 0 would otherwise pull C-R (and C-F1) down unseen."""
    absent = [labels.token_of(c) for c in np.flatnonzero(~truth.any(axis=0))]
    info = {"count": len(absent), "of": int(truth.shape[1]), "names": absent, "excluded": exclude}
    if not absent:
        return info, ""
    shown = ", ".join(absent[:10]) + (", ..." if len(absent) > 10 else "")
    treatment = ("left out of C-P/C-R (--exclude_absent_classes)" if exclude else
                 "counted in C-P/C-R with recall 0 (default; --exclude_absent_classes leaves them out)")
    return info, (f"note: {len(absent)} of {truth.shape[1]} classes have no positive among the "
                  f"{truth.shape[0]} evaluated images ({shown}): {treatment}")


def score_multilabel(trained: inference.TrainedModel, decoded: dict, convention: str,
                     exclude_absent_classes: bool = False) -> tuple[dict, list, str, dict]:
    """Metrics rows, predictions.jsonl entries, table and metrics.json extras of a decoded multi-label split."""
    labels = trained.vocabularies.labels
    truth = decoded["truth"] > 0.5  # [N, C]
    empty_truth = "exclude" if exclude_absent_classes else "zero"
    num_labels = truth.shape[1]
    predicted_rows: dict[str, np.ndarray] = {}  # row key -> [N, C] bool
    decoded_labels = None
    if "token_ids" in decoded:
        decoded_labels = inference.label_lists(decoded, trained.vocabularies)
        sequences = [ids[:length] for ids, length in zip(decoded["token_ids"], decoded["lengths"])]
        predicted_rows["decoded"] = multilabel.sequences_to_multi_hot(
            sequences, num_labels, offset=len(record_schema.LABEL_SPECIALS), end_id=record_schema.END_ID)
    concept_top = None
    if "concept_probs" in decoded:
        probs = decoded["concept_probs"].astype(np.float64)
        k = min(FIXED_LENGTH_K, num_labels)
        concept_top = _top_k(probs, k)  # [N, k], the same labels as top_k_multi_hot picks
        predicted_rows["concept_top3"] = multilabel.top_k_multi_hot(probs, k)
        predicted_rows["concept_threshold"] = multilabel.threshold_multi_hot(probs, CONCEPT_THRESHOLD)
    by_convention = {
        name: {key: multilabel.multilabel_metrics(truth, predicted, name, empty_truth)
               for key, predicted in predicted_rows.items()}
        for name in CONVENTIONS
    }
    row_names = multilabel_row_names(trained.config, list(predicted_rows))
    predictions = []
    for index, image_id in enumerate(decoded["image_id"]):
        concept = {}
        if concept_top is not None:
            concept = {"concept_labels": [labels.token_of(c) for c in concept_top[index]],
                       "concept_scores": [float(decoded["concept_probs"][index, c]) for c in concept_top[index]]}
        if decoded_labels is not None:
            predicted = [name for name, _ in decoded_labels[index]], [prob for _, prob in decoded_labels[index]]
        else:  # cnn_logistic: its prediction is the fixed-length top-3 (I3)
            predicted = concept["concept_labels"], concept["concept_scores"]
        predictions.append({
            "image_id": int(image_id), "labels": predicted[0], "scores": predicted[1],
            "ground_truth": [labels.token_of(c) for c in np.flatnonzero(truth[index])],  # rare-first
            **concept,
        })
    absent, note = _absent_classes(truth, labels, exclude_absent_classes)
    table = multilabel_table(by_convention, row_names, convention, len(predictions)) + (f"\n{note}" if note else "")
    summary = {"metrics_by_convention": by_convention, "rows": row_names, "absent_classes": absent,
               "decoding": {"method": "greedy" if decoded_labels is not None else f"top-{FIXED_LENGTH_K}"}}
    return by_convention[convention], predictions, table, summary


def score_captions(trained: inference.TrainedModel, decoded: dict, data_dir: str, split: str,
                   beam_width: int) -> tuple[dict, list, str, dict]:
    """Scores, predictions.jsonl entries, table and metrics.json extras of a decoded caption split."""
    records = {record.image_id: record for record in references_lib.read_split(data_dir, split)}
    beams = inference.caption_lists(decoded, trained.vocabularies)
    concepts = trained.vocabularies.concepts
    concept_top = _top_k(decoded["concept_probs"], CAPTION_CONCEPTS_KEPT) if "concept_probs" in decoded else None
    predictions = []
    for index, image_id in enumerate(decoded["image_id"]):
        image_id = int(image_id)
        best_caption, best_log_prob = beams[index][0] if beams[index] else ("", None)  # no finished beam
        record = records.get(image_id)
        entry = {
            "image_id": image_id,
            "caption": best_caption,
            "log_prob": _finite_or_none(best_log_prob),
            "beams": [{"caption": text, "log_prob": _finite_or_none(log_prob)} for text, log_prob in beams[index]],
            "references": list(record.captions) if record else [],
        }
        if concept_top is not None:
            entry["concepts"] = [concepts.token_of(c) for c in concept_top[index]]
            entry["concept_scores"] = [float(decoded["concept_probs"][index, c]) for c in concept_top[index]]
        predictions.append(entry)
    scored = {entry["image_id"]: entry["caption"] for entry in predictions if entry["references"]}
    if not scored:
        raise ValueError(f"no image of split {split!r} in {data_dir} has reference captions: nothing to score")
    references = {entry["image_id"]: entry["references"] for entry in predictions if entry["references"]}
    scores = caption_scores.score_captions(references, scored)
    notes = scores.pop(caption_scores.UNAVAILABLE_KEY, {})
    if len(scored) < len(predictions):
        notes["references"] = f"{len(predictions) - len(scored)} image(s) without reference captions were not scored"
    name = f"{model_name(trained.config)} (beam {beam_width})"
    table = caption_table({name: scores}, notes, len(scored))
    summary = {"notes": notes, "num_scored": len(scored),
               "decoding": {"method": "beam", "beam_width": beam_width}}
    return scores, predictions, table, summary


def _score_multilabel(trained, decoded: dict, *, data_dir: str, split: str, beam_width: int, convention: str,
                      exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
    del data_dir, split, beam_width  # the truth is in the decoded batches
    return score_multilabel(trained, decoded, convention, exclude_absent_classes)


def _score_captions(trained, decoded: dict, *, data_dir: str, split: str, beam_width: int, convention: str,
                    exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
    del convention, exclude_absent_classes  # multi-label only
    return score_captions(trained, decoded, data_dir, split, beam_width)


# Task name -> its scorer.
SCORERS = {"caption": _score_captions, "multilabel": _score_multilabel}


def score(trained: inference.TrainedModel, decoded: dict, *, data_dir: str, split: str, beam_width: int,
          convention: str, exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
    """A decoded split -> (metrics, predictions.jsonl entries, table, metrics.json extras), as its task scores.

    Args:
      trained: the model (its task, config and vocabularies).
      decoded: `decode_split`'s NumPy rows.
      data_dir, split: where the reference captions are (captions).
      beam_width: the beam width decoded with (captions: the table's row name).
      convention, exclude_absent_classes: multi-label's O-* convention and absent classes.
    """
    return SCORERS[trained.task](trained, decoded, data_dir=data_dir, split=split, beam_width=beam_width,
                                 convention=convention, exclude_absent_classes=exclude_absent_classes)
