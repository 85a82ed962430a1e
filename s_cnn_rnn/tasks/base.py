"""The Task record: what differs between captioning and multi-label annotation, as facts.

A task is a small frozen record low in the house (the tasks package imports only `record_schema`,
no TensorFlow) and does none of the jobs done per task. The modules that do them read its facts
(`task.decoding`, `task.targets`, ...) or keep a table keyed by its `name`:

* decoding: `inference.decode` (by `decoding`);
* scoring, tables, metrics.json: `evaluation/scoring.py`, `evaluation/tables.py`;
* evaluation files and report: `evaluation/outputs.py`, `evaluation/report.py`;
* decoded validation while training: `training/decoded_validation.py`;
* serving outputs and predictions: `serving/outputs.py`, `serving/predict_lib.py`, `serving/export_lib.py`.
"""

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Task:
    """One task's facts.

    Attributes:
      name: the `--task` value ("caption", "multilabel").
      concepts_key: `dataset_info` key of the concept layer's width k.
      vocab_size_key: `dataset_info` key of the decoder's vocabulary size.
      concept_vocab_file: the vocabulary file (under DATA_DIR) that names the concept layer's units.
      concept_vocabulary: the `Vocabularies` field that names them ("concepts", "labels").
      concepts_noun: what the concept layer predicts, for messages ("concepts", "labels").
      targets: what the input pipeline reads as target sequences: "captions" (caption/token_ids,
        decoded with the word vocabulary) or "labels" (label/sequence, rare-first, decoded with
        `<pad> <start> <end>` + the labels).
      targets_noun: the data the task needs, for messages ("captions", "labels").
      decoding: how a decoder's outputs are decoded: "beam_search" (SPEC I2) or "greedy" without
        repeats (SPEC I1); model_info.json's decoding method.
      max_length: most tokens decoded when the caller gives none; None: the number of labels (a
        label is never emitted twice).
      best_metrics: stage -> the history key its best checkpoint is chosen by under
        --best_checkpoint_metric=auto (a stage not listed: "val_loss").
      validation_needs_references: whether decoded validation needs the validation split's
        reference captions.
      has_conventions: whether its metrics come in the O-* conventions (pooled, per_image).
    """

    name: str
    concepts_key: str
    vocab_size_key: str
    concept_vocab_file: str
    concept_vocabulary: str
    concepts_noun: str
    targets: str
    targets_noun: str
    decoding: str
    max_length: int | None
    best_metrics: Mapping[str, str]
    validation_needs_references: bool
    has_conventions: bool

    def __repr__(self) -> str:
        return f"tasks.get({self.name!r})"

    def sizes(self, info: dict) -> tuple[int, int]:
        """`(num_concepts, vocab_size)` of a data dir (`data_dir.dataset_info`); k may be 0."""
        return int(info[self.concepts_key]), int(info[self.vocab_size_key])

    def concept_tokens(self, vocabularies) -> list[str]:
        """The names of the concept layer's units, in unit order (a `vocabulary.Vocabularies`)."""
        return getattr(vocabularies, self.concept_vocabulary).tokens

    def output_vocabulary(self, vocabularies):
        """The decoder's token `Vocabulary` (ids the decoder emits -> tokens)."""
        return vocabularies.words if self.targets == "captions" else vocabularies.label_sequence_vocabulary()

    def one_row_per_image(self, captions_mode: str) -> bool:
        """Whether each batch row is one image (False: one row per caption, --captions=all)."""
        return self.targets != "captions" or captions_mode == "sample"

    def default_max_length(self, vocabularies) -> int:
        """Most tokens decoded when the caller gives none."""
        return self.max_length or max(len(getattr(vocabularies, self.concept_vocabulary)), 1)

    def summary_convention(self, convention: str) -> str | None:
        """metrics.json's "convention": the O-* convention where the task has them."""
        return convention if self.has_conventions else None
