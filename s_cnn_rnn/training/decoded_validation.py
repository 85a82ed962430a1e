"""Decoded validation inside the training loop, and the best checkpoint of each stage.

Every `--validate_every` steps the trainer's loss validation is followed by this: the first
`--validation_decode_examples` validation images are annotated exactly as `s-cnn-rnn-evaluate`
annotates them (`inference.Annotator`: beam 3 for captions, greedy without repeats for labels)
and scored with the evaluation's metrics. What each stage scores:

| stage | scored                                        | history keys                              | default best by |
|-------|-----------------------------------------------|-------------------------------------------|-----------------|
| cnn   | the concept layer, top-3, vs the truth concepts | val_concept_C-F1, val_concept_O-F1      | labels: val_concept_O-F1; captions: val_loss |
| rnn   | nothing decoded: it reads ground-truth concepts, not images | (the losses only)           | val_loss |
| joint | labels: greedy sequences; captions: best beam  | val_C-F1, val_O-F1 / val_CIDEr_pytok, val_Bleu_4_pytok, val_ROUGE_L_pytok | val_O-F1 / val_CIDEr_pytok |

Caption scores are computed without Java, with the scorer's Python PTB tokenizer: hence the
"_pytok" suffix (they may differ slightly from `s-cnn-rnn-evaluate`'s, and METEOR is left out).
O-* are pooled over images, the evaluation's default convention. The joint stage of a model
with a concept layer also reports the concept metrics. A caption model's cnn stage is chosen by
its loss: its top-3 concepts are the commonest words ("a", "the", "in") for nearly every image
early on, so their O-F1 stays flat (measured: 0.2218 at steps 150 and 300 of the demo).
Ties go to the later step. A stage that starts fresh and decodes images is also scored at step 0
(the weights the earlier stages handed over); that record is never chosen as the best: the
stage's best checkpoint is one the stage trained.

The best checkpoint of a stage (by `--best_checkpoint_metric`, "auto" = the table's last
column) is kept in `MODEL_DIR/<stage>/best/` (one checkpoint) with `best.json` (step, metric,
value) beside the latest ones in `checkpoints/`; `--checkpoint=best` of the inference commands
restores it.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from s_cnn_rnn import atomic_files
from s_cnn_rnn import inference
from s_cnn_rnn import record_schema
from s_cnn_rnn.model_dir import BEST_DIR, BEST_FILE, read_best  # noqa: F401  (read_best re-exported)
from s_cnn_rnn import tasks
from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn.models import variants
from s_cnn_rnn.tasks import caption as caption_task

AUTO = "auto"
# SPEC I3: the concept layer read as a fixed-length classifier predicts its 3 best.
CONCEPT_TOP_K = 3
# Captions are scored without Java (METEOR needs it), with the scorer's Python PTB tokenizer: these
# groups, these keys, and the suffix that marks them.
VALIDATION_GROUPS = ("Bleu", "ROUGE_L", "CIDEr")
VALIDATION_KEYS = ("Bleu_4", "ROUGE_L", "CIDEr")
PYTHON_TOKENIZER_SUFFIX = caption_task.PYTHON_TOKENIZER_SUFFIX


def _caption_sequence_scores(decoded: dict, trained: inference.TrainedModel, references: dict | None) -> dict:
    """BLEU-4, ROUGE-L and CIDEr of the best beams, Python tokenizer ("val_CIDEr_pytok", ...).

    Args:
      decoded: the Annotator's NumPy outputs plus "image_id" `[N]` and "truth" `[N, k]`.
      trained: the `TrainedModel` view of the model being trained.
      references: {image_id: [caption, ...]} of the validation split.
    """
    references = references or {}
    beams = inference.caption_lists(decoded, trained.vocabularies)
    results = {int(i): (b[0][0] if b else "") for i, b in zip(decoded["image_id"], beams) if references.get(int(i))}
    if not results:
        return {}
    scores = caption_scores.score_captions({i: references[i] for i in results}, results,
                                           metrics=VALIDATION_GROUPS, python_tokenizer=True)
    return {f"val_{key}{PYTHON_TOKENIZER_SUFFIX}": scores[key] for key in VALIDATION_KEYS}


def _label_sequence_scores(decoded: dict, trained: inference.TrainedModel, references: dict | None) -> dict:
    """Pooled C-F1 and O-F1 of the greedy label sequences ("val_C-F1", "val_O-F1")."""
    del trained, references  # the truth is in the decoded rows
    truth = decoded["truth"] > 0.5  # [N, k]
    sequences = [ids[:length] for ids, length in zip(decoded["token_ids"], decoded["lengths"])]
    predicted = multilabel.sequences_to_multi_hot(
        sequences, truth.shape[1], offset=len(record_schema.LABEL_SPECIALS), end_id=record_schema.END_ID)
    scores = multilabel.multilabel_metrics(truth, predicted, "pooled")
    return {f"val_{key}": scores[key] for key in ("C-F1", "O-F1")}


# Task name -> {history key: value} of the decoded sequences of one validation.
SEQUENCE_SCORES = {"caption": _caption_sequence_scores, "multilabel": _label_sequence_scores}


def default_metric(stage: str, task: str) -> str:
    """The history key a stage's best checkpoint is chosen by when the flag says "auto"."""
    return tasks.get(task).best_metrics.get(stage, "val_loss")


def lower_is_better(metric: str) -> bool:
    """Losses (val_loss, val_L_u, val_L_r) are minimised, every score is maximised."""
    return metric == "val_loss" or metric.startswith("val_L_")


class BestCheckpoint:
    """Keeps the best checkpoint of a stage by one metric in `STAGE_DIR/best/` with best.json.

    Args:
      checkpoint: the trainer's `tf.train.Checkpoint` (the same items as the latest ones).
      stage_dir: `MODEL_DIR/<stage>`.
      metric: the history key compared.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, stage_dir: str, metric: str):
        self.metric = metric
        self.directory = os.path.join(stage_dir, BEST_DIR)
        self._manager = tf.train.CheckpointManager(checkpoint, self.directory, max_to_keep=1)
        self.best = read_best(stage_dir)
        if self.best is not None and self.best.get("metric") != metric:
            logging.info("stage %s: the best checkpoint was chosen by %s, now by %s: choosing anew",
                         os.path.basename(stage_dir), self.best.get("metric"), metric)
            self.best = None

    def update(self, step: int, record: dict) -> bool:
        """Saves the model as the best when `record[metric]` beats the best so far; True if saved."""
        value = record.get(self.metric)
        if value is None or not np.isfinite(value):
            return False
        if self.best is not None:
            previous = self.best["value"]
            if (value > previous) if lower_is_better(self.metric) else (value < previous):
                return False
        path = self._manager.save(checkpoint_number=step)
        self.best = {"step": step, "metric": self.metric, "value": float(value), "checkpoint": os.path.basename(path)}
        atomic_files.write_json(os.path.join(self.directory, BEST_FILE), self.best, indent=1)
        logging.info("new best checkpoint at step %d: %s %.4f (%s)", step, self.metric, value, path)
        return True


class DecodedValidation:
    """Scores a stage on decoded validation images and keeps its best checkpoint.

    Args:
      trained: the model being trained, with its config, task and vocabularies (no checkpoint).
      stage: "cnn", "rnn" or "joint".
      dataset_fn: `() -> tf.data.Dataset` of evaluation-view batches of the validation split
        ("image", "tags", "concepts", "image_id"); None for a stage that decodes nothing.
      num_examples: images decoded per validation (the first ones of the split).
      references: captions: {image_id: [reference caption, ...]} of the validation split.
      best_metric: history key the best checkpoint is chosen by, or "auto".
      beam_width: captions (I2: 3).
    """

    def __init__(self, trained: inference.TrainedModel, stage: str, dataset_fn, num_examples: int,
                 references: dict | None = None, best_metric: str = AUTO, beam_width: int = 3):
        self.trained = trained
        self.stage = stage
        # Image-free stages (tags, rnn) have nothing to decode: their best checkpoint follows a loss.
        self._dataset_fn = dataset_fn if variants.STAGES[stage].reads_images and num_examples > 0 else None
        self.num_examples = num_examples
        self._references = references or {}
        stage_default = default_metric(stage, trained.task)
        self.best_metric = stage_default if best_metric == AUTO else best_metric
        self._stage_default = stage_default
        self._best: BestCheckpoint | None = None
        self._annotate = None
        self.cpu_seconds = 0.0  # time.process_time() spent here so far (the stage clock's CPU measure)
        self._cpu_start = time.process_time()

    @property
    def decodes_images(self) -> bool:
        """Whether it scores decoded images (the trainer then also validates at step 0)."""
        return self._dataset_fn is not None

    # ----------------------------------------------------------------- decoding
    def _annotator(self):
        """The evaluation's Annotator in one tf.function (cnn stage: the concept layer alone)."""
        if self._annotate is None:
            if self.stage == "cnn":
                model, use_tags = self.trained.model, self.trained.config.use_tags

                def concepts_only(images, tags):
                    outputs = model.unary(images, tags if use_tags else None, training=False)
                    return {"concept_probs": outputs["concept_probs"]}

                self._annotate = tf.function(concepts_only, reduce_retracing=True, autograph=False)
            else:
                annotator = inference.Annotator(self.trained)
                self._annotate = tf.function(annotator.__call__, reduce_retracing=True, autograph=False)
        return self._annotate

    def decode(self) -> dict:
        """NumPy rows of the first `num_examples` validation images: image_id, truth, outputs."""
        annotate = self._annotator()
        chunks: dict[str, list] = {}
        done = 0
        for batch in self._dataset_fn():
            count = min(int(batch["image_id"].shape[0]), self.num_examples - done)
            outputs = annotate(batch["image"], batch["tags"])
            rows = {"image_id": batch["image_id"], "truth": batch["concepts"], **outputs}
            for key, value in rows.items():
                chunks.setdefault(key, []).append(np.asarray(value)[:count])
            done += count
            if done >= self.num_examples:
                break
        return {key: np.concatenate(values) for key, values in chunks.items()}

    # ----------------------------------------------------------------- metrics
    def metrics(self, decoded: dict) -> dict:
        """{history key: value} of one decoded validation (see the module table)."""
        truth = decoded["truth"] > 0.5  # [N, k]
        scores = {}
        if "concept_probs" in decoded:
            predicted = multilabel.top_k_multi_hot(decoded["concept_probs"], min(CONCEPT_TOP_K, truth.shape[1]))
            concept = multilabel.multilabel_metrics(truth, predicted, "pooled")
            scores.update({f"val_concept_{key}": concept[key] for key in ("C-F1", "O-F1")})
        if "token_ids" not in decoded:
            return scores
        scores.update(SEQUENCE_SCORES[self.trained.task](decoded, self.trained, self._references))
        return scores

    # ----------------------------------------------------------------- the hook
    def __call__(self, step: int, validation: dict, checkpoint: tf.train.Checkpoint, stage_dir: str) -> dict:
        """Runs after the loss validation at `step`: decoded metrics, best checkpoint, CPU cost.

        Returns:
          the history keys to add: the metrics (floats), "decoded_validation_cpu_seconds" (total
          spent here so far) and "process_cpu_seconds" (the training process's, since this
          stage started), so their ratio is the decoded validation's share of the CPU.
        """
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        extra = {}
        if self._dataset_fn is not None:
            extra = self.metrics(self.decode())
        self.cpu_seconds += time.process_time() - started_cpu
        if self._best is None:
            # The requested key, else the stage's default, else the loss (no images decoded).
            reported = {**validation, **extra}
            metric = next((key for key in (self.best_metric, self._stage_default) if key in reported), "val_loss")
            if metric != self.best_metric:
                logging.warning("stage %s reports no %s: its best checkpoint is chosen by %s",
                                self.stage, self.best_metric, metric)
            self._best = BestCheckpoint(checkpoint, stage_dir, metric)
        if step > 0:  # step 0 holds what the earlier stages handed over, not this stage's training
            self._best.update(step, {**validation, **extra})
        if extra:
            logging.info("stage %s step %d decoded validation (%d images, %.1f s): %s", self.stage, step,
                         self.num_examples, time.perf_counter() - started_wall,
                         " ".join(f"{k} {v:.4f}" for k, v in extra.items()))
        extra["decoded_validation_cpu_seconds"] = round(self.cpu_seconds, 3)
        extra["process_cpu_seconds"] = round(time.process_time() - self._cpu_start, 3)
        return extra
