"""Decodes a split with a trained model and scores it: the paper's tables for labels and captions.

* Multi-label (SPEC E1, I1, I3): the decoded label sequences (greedy; the model decides how
  many labels) in both O-* conventions, plus the model's own concept layer read as a
  fixed-length classifier (top-3, and p >= 0.5). cnn_logistic has only the latter rows.
* Captions (SPEC E2, I2): the best of a width-3 beam per image, scored by coco-caption
  against the reference captions stored in the records.

The annotation runs in one tf.function over fixed-size batches (the last partial batch is
padded), so it traces once and can be XLA-compiled or run on an accelerator unchanged.
"""

import dataclasses
import sys
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from s_cnn_rnn import record_schema
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.evaluation import outputs
from s_cnn_rnn.evaluation import references as references_lib
# Re-exported: callers write through `runner` as before.
from s_cnn_rnn.evaluation.outputs import CAPTIONS_RESULTS_FILE, METRICS_FILE, PREDICTIONS_FILE  # noqa: F401
from s_cnn_rnn.evaluation.outputs import results_dir, write_outputs  # noqa: F401
from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn.models import variants

CONVENTIONS = multilabel.CONVENTIONS
# SPEC I3: fixed-length classifiers predict their 3 best labels.
FIXED_LENGTH_K = 3
CONCEPT_THRESHOLD = 0.5
# Captions: concepts kept per image in predictions.jsonl, by probability (the report leaves the
# function words among them out, see report.STOP_WORDS).
CAPTION_CONCEPTS_KEPT = 20
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
CAPTIONS_RESULTS_FILE = "captions_results.json"


@dataclasses.dataclass
class EvaluationResult:
    """What `evaluate` measured.

    Attributes:
      metrics: multi-label: {row key: {"C-P", ..., "O-F1"}} in the chosen convention;
        captions: {"Bleu_1", ..., "CIDEr"} (None for a score that could not be computed).
      predictions: one dict per image, the lines of predictions.jsonl.
      table: the printed table (the paper's columns).
      summary: the metrics.json payload (task, split, num_images, model_dir, checkpoints,
        convention, metrics, and per task the rest: both conventions, row names, notes).
    """

    metrics: dict
    predictions: list
    table: str
    summary: dict = dataclasses.field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.summary["task"]

    @property
    def split(self) -> str:
        return self.summary["split"]


def _pipeline_config(trained: inference.TrainedModel, batch_size: int) -> input_pipeline.PipelineConfig:
    """The evaluation view (central crop, no augmentation) in the model's image size and pixel scaling."""
    config = trained.config
    return input_pipeline.PipelineConfig(
        task=trained.task, batch_size=batch_size, image_size=config.resolved_image_size,
        preprocessing=config.preprocessing_mode, training=False, read_images=True, deterministic=True,
    )


def _pad_batch(tensor: tf.Tensor, batch_size: int) -> tf.Tensor:
    """Zero-pads `[n, ...]` to `[batch_size, ...]` so every call has the same static shape."""
    missing = batch_size - tf.shape(tensor)[0]
    paddings = tf.concat([[[0, missing]], tf.zeros([tf.rank(tensor) - 1, 2], tf.int32)], axis=0)
    return tf.pad(tensor, paddings)


def decode_split(trained: inference.TrainedModel, data_dir: str, split: str, batch_size: int = 32,
                 beam_width: int = 3, max_images: int | None = None, show_progress: bool = True) -> dict:
    """Runs the Annotator over (the first `max_images` images of) a split.

    Returns:
      NumPy arrays, one row per image in pipeline order: "image_id" `[N]`, "truth" `[N, k]`
      (the batch's "concepts" multi-hot: labels for multi-label), and the Annotator's outputs
      (see `inference.Annotator.__call__`).
    """
    num_examples = input_pipeline.dataset_info(data_dir)["num_examples"].get(split, 0)
    total = num_examples if max_images is None else min(num_examples, max_images)
    batch_size = max(1, min(batch_size, total or 1))
    dataset = input_pipeline.make_dataset(data_dir, split, _pipeline_config(trained, batch_size))
    annotator = inference.Annotator(trained, beam_width=beam_width)
    annotate = tf.function(annotator.__call__)
    chunks: dict[str, list] = {}
    done = 0
    with tqdm(total=total, unit="img", desc=f"decoding {split}", disable=not show_progress, file=sys.stderr) as bar:
        for batch in dataset:
            count = min(int(batch["image_id"].shape[0]), total - done)
            outputs = annotate(_pad_batch(batch["image"], batch_size), _pad_batch(batch["tags"], batch_size))
            rows = {"image_id": batch["image_id"], "truth": batch["concepts"], **outputs}
            for key, value in rows.items():
                chunks.setdefault(key, []).append(np.asarray(value)[:count])
            done += count
            bar.update(count)
            if done >= total:
                break
    if done == 0:
        raise ValueError(f"split {split!r} of {data_dir} gave no images to evaluate (max_images={max_images})")
    return {key: np.concatenate(values) for key, values in chunks.items()}


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: a log-probability of a beam that never finished becomes null."""
    return float(value) if value is not None and np.isfinite(value) else None


def _top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """`[N, k]` indices of the k best scores, ties to the lower index (as `top_k_multi_hot`)."""
    return np.argsort(-probs.astype(np.float64), axis=1, kind="stable")[:, :k]


# ----------------------------------------------------------------------------- tables

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


# ----------------------------------------------------------------------------- multi-label


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


def _multilabel(trained: inference.TrainedModel, decoded: dict, convention: str,
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


# ----------------------------------------------------------------------------- captions


def _captions(trained: inference.TrainedModel, decoded: dict, data_dir: str, split: str,
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


# ----------------------------------------------------------------------------- entry points


def evaluate(model_dir: str, data_dir: str, split: str = "test", batch_size: int = 32, beam_width: int = 3,
             max_images: int | None = None, show_progress: bool = True,
             convention: str = "pooled", exclude_absent_classes: bool = False,
             checkpoint: str = "best") -> EvaluationResult:
    """Decodes a split with the model of `model_dir` and computes the paper's metrics.

    Args:
      model_dir: a trained model dir (model_config.json, vocab/, stage checkpoints).
      data_dir: converted data with the same vocabularies.
      split: the split to decode.
      batch_size: images per Annotator call.
      beam_width: captions: beam width (I2: 3).
      max_images: decode only the first this many images (None: all).
      show_progress: a tqdm bar on stderr.
      convention: multi-label O-P/O-R: "pooled" (default) or "per_image"; both are computed.
      exclude_absent_classes: multi-label: leave classes with no positive among the evaluated
        images out of C-P/C-R (and images without labels out of the per-image O-*); by default
        they count with recall 0. Either way metrics.json lists them under "absent_classes".
      checkpoint: "best" | "latest" | a step (see `inference.load_trained_model`).

    Raises:
      FileNotFoundError: no model in `model_dir`, or `data_dir` is not converted data.
      model_dir.VocabularyMismatchError: the data's vocabularies are not the model's.
      ValueError: unknown split or convention, an empty split.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    started = time.monotonic()
    trained = inference.load_trained_model(model_dir, checkpoint)
    model_dir_lib.check_vocabularies(model_dir, data_dir)
    decoded = decode_split(trained, data_dir, split, batch_size, beam_width, max_images, show_progress)
    decode_seconds = time.monotonic() - started
    if trained.task == "multilabel":
        metrics, predictions, table, details = _multilabel(trained, decoded, convention, exclude_absent_classes)
    else:
        metrics, predictions, table, details = _captions(trained, decoded, data_dir, split, beam_width)
    coverage = outputs.split_coverage(data_dir, split, len(predictions))
    coverage_text = outputs.coverage_line(coverage, split)
    table = coverage_text + "\n" + table
    summary = {
        "task": trained.task, "split": split, "num_images": len(predictions), "max_images": max_images,
        "coverage": coverage, "coverage_text": coverage_text, "model_dir": model_dir,
        "data_dir": data_dir, "variant": trained.config.variant, "model_name": model_name(trained.config),
        "checkpoints": trained.checkpoints,
        "convention": convention if trained.task == "multilabel" else None, "metrics": metrics, **details,
        "seconds": {"decode": round(decode_seconds, 3), "total": round(time.monotonic() - started, 3)},
    }
    return EvaluationResult(metrics=metrics, predictions=predictions, table=table, summary=summary)
