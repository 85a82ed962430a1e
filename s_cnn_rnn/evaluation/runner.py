"""Evaluates a trained model on a split: decode, score, format the paper's table, in that order.

The jobs live apart: `decode_split` (the Annotator over a split), `scoring` (metrics and
predictions.jsonl entries), `tables` (the paper's tables), `outputs` (the files written); each
picks what to do by the model's task. `evaluate` composes them.
"""

import dataclasses
import time

from s_cnn_rnn import inference
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.evaluation import outputs
from s_cnn_rnn.evaluation import scoring
# Re-exported: callers (tests, bench, demo) reach these through `runner` as before.
from s_cnn_rnn.evaluation.decode_split import decode_split  # noqa: F401  (patched by tests)
from s_cnn_rnn.evaluation.decode_split import pipeline_config as _pipeline_config  # noqa: F401
from s_cnn_rnn.evaluation.outputs import CAPTIONS_RESULTS_FILE, METRICS_FILE, PREDICTIONS_FILE  # noqa: F401
from s_cnn_rnn.evaluation.outputs import results_dir, write_outputs  # noqa: F401
from s_cnn_rnn.evaluation.tables import CAPTION_COLUMNS, CONCEPT_THRESHOLD, CONVENTIONS, FIXED_LENGTH_K  # noqa: F401
from s_cnn_rnn.evaluation.tables import caption_table, model_name, multilabel_row_names  # noqa: F401
from s_cnn_rnn.evaluation.tables import multilabel_table  # noqa: F401

# Above the table of an evaluation decoded from ground-truth concepts, so it is never read as the model's.
_ORACLE_LINE = ("decoded from GROUND-TRUTH concepts (oracle diagnostic, --concepts=ground_truth), "
                "not the CNN's predicted ones\n")


@dataclasses.dataclass
class EvaluationResult:
    """What `evaluate` measured.

    Attributes:
      metrics: multi-label: {row key: {"C-P", ..., "O-F1"}} in the chosen convention;
        captions: {"Bleu_1", ..., "CIDEr"} (None for a score that could not be computed).
      predictions: one dict per image, the lines of predictions.jsonl.
      table: the printed table (the paper's columns).
      summary: the metrics.json payload (task, split, num_images, model_dir, checkpoints,
        concept_source ("predicted" | "ground_truth"), convention, metrics, and per task the rest:
        both conventions, row names, notes).
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


def evaluate(model_dir: str, data_dir: str, split: str = "test", batch_size: int = 32, beam_width: int = 3,
             max_images: int | None = None, show_progress: bool = True,
             convention: str = "pooled", exclude_absent_classes: bool = False,
             checkpoint: str = "best", concepts: str = "predicted",
             label_decoding: str = "no_repeat") -> EvaluationResult:
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
      concepts: "predicted" or "ground_truth": decode from each image's ground-truth concepts
        instead of the CNN's probabilities (the oracle diagnostic; `decode_split`).

    Raises:
      FileNotFoundError: no model in `model_dir`, or `data_dir` is not converted data.
      model_dir.VocabularyMismatchError: the data's vocabularies are not the model's.
      ValueError: unknown split or convention, an empty split.
      errors.OptionError: ground-truth concepts for a model whose bridge does not read concepts.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    started = time.monotonic()
    trained = inference.load_trained_model(model_dir, checkpoint)
    model_dir_lib.check_vocabularies(model_dir, data_dir)
    decoded = decode_split(trained, data_dir, split, batch_size, beam_width, max_images, show_progress,
                           concepts=concepts, label_decoding=label_decoding)
    decode_seconds = time.monotonic() - started
    metrics, predictions, table, details = scoring.score(
        trained, decoded, data_dir=data_dir, split=split, beam_width=beam_width, convention=convention,
        exclude_absent_classes=exclude_absent_classes)
    coverage = outputs.split_coverage(data_dir, split, len(predictions))
    coverage_text = outputs.coverage_line(coverage, split)
    table = coverage_text + "\n" + (_ORACLE_LINE if concepts == "ground_truth" else "") + table
    summary = {
        "task": trained.task, "split": split, "num_images": len(predictions), "max_images": max_images,
        "coverage": coverage, "coverage_text": coverage_text, "model_dir": model_dir,
        "data_dir": data_dir, "variant": trained.config.variant, "model_name": model_name(trained.config),
        "checkpoints": trained.checkpoints, "concept_source": concepts,
        "convention": trained.task_spec.summary_convention(convention), "metrics": metrics, **details,
        "seconds": {"decode": round(decode_seconds, 3), "total": round(time.monotonic() - started, 3)},
    }
    return EvaluationResult(metrics=metrics, predictions=predictions, table=table, summary=summary)
