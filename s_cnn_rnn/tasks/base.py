"""The Task interface: what differs between captioning and multi-label annotation, in one object.

A task (in the spirit of TF Model Garden's `Task`, cut down to what this paper needs) holds
everything the rest of the code would otherwise decide by testing the task's name:

* sizes: the concept layer's width and the decoder's vocabulary, read from a data dir's
  `dataset_info` (`sizes`), and the vocabularies behind them (`concept_tokens`,
  `output_vocabulary`);
* pipeline needs: which vocabulary file gives the concept multi-hot, which record sequences
  are the targets (`targets`), whether a batch row is an image (`one_row_per_image`);
* decoding: greedy without repeats (labels, SPEC I1) or beam search (captions, SPEC I2), with
  their settings (`decode`, `default_max_length`, `serving_decoding`);
* metrics and the paper's table over a decoded split (`score`, `table_from_summary`,
  `headline_metrics`);
* serving outputs (`output_names`, `serving_outputs`, `prediction_entries`) and the
  evaluation's extra files and report panels (`extra_outputs`, `report_panels`).

This module imports no TensorFlow: the methods that build graphs import it when called.
"""

import abc

from s_cnn_rnn import record_schema

# Tokens a decoder may never emit (SPEC I1, I2): padding and <start>.
BANNED_IDS = (record_schema.PAD_ID, record_schema.START_ID)


class Task(abc.ABC):
    """One task. Subclasses set the class attributes and implement the abstract methods.

    Attributes:
      name: the `--task` value ("caption", "multilabel").
      concepts_key: `dataset_info` key of the concept layer's width k.
      vocab_size_key: `dataset_info` key of the decoder's vocabulary size.
      concept_vocab_file: the vocabulary file (under DATA_DIR) that names the concept layer's units.
      concepts_noun: what the concept layer predicts, for messages ("concepts", "labels").
      targets: what the input pipeline reads as target sequences: "captions" (caption/token_ids)
        or "labels" (label/sequence, rare-first).
      targets_noun: the data the task needs, for messages ("captions", "labels").
      serving_method: model_info.json's decoding method for a model with a decoder.
      report_joiners: (HTML, text) separators between one report panel's items.
    """

    name: str
    concepts_key: str
    vocab_size_key: str
    concept_vocab_file: str
    concepts_noun: str
    targets: str
    targets_noun: str
    serving_method: str
    report_joiners: tuple[str, str]

    # Stage -> the history key its best checkpoint is chosen by under --best_checkpoint_metric=auto
    # (a stage not listed: "val_loss"); see training/decoded_validation.py.
    best_metrics: dict = {}
    # Whether decoded validation needs the validation split's reference captions.
    validation_needs_references: bool = False

    def __repr__(self) -> str:
        return f"tasks.get({self.name!r})"

    # ------------------------------------------------------------------ sizes and vocabularies

    def sizes(self, info: dict) -> tuple[int, int]:
        """`(num_concepts, vocab_size)` of a data dir (`data_dir.dataset_info`); k may be 0."""
        return int(info[self.concepts_key]), int(info[self.vocab_size_key])

    @abc.abstractmethod
    def concept_tokens(self, vocabularies) -> list[str]:
        """The names of the concept layer's units, in unit order."""

    @abc.abstractmethod
    def output_vocabulary(self, vocabularies):
        """The decoder's token `Vocabulary` (ids the decoder emits -> tokens)."""

    # ------------------------------------------------------------------ input pipeline

    def one_row_per_image(self, captions_mode: str) -> bool:
        """Whether each batch row is one image (False: one row per caption, "all" mode)."""
        del captions_mode
        return True

    # ------------------------------------------------------------------ decoding

    @abc.abstractmethod
    def default_max_length(self, vocabularies) -> int:
        """Most tokens decoded when the caller gives none."""

    @abc.abstractmethod
    def decode(self, step_fn, initial_state, *, max_length: int, beam_width: int,
               length_normalization: float, no_repeat: bool = True) -> dict:
        """Decodes a batch in-graph (pure TF).

        Args:
          step_fn: `(token_ids [N] int32, state) -> (logits [N, V], new_state)`.
          initial_state: the decoder's `[B, ...]` state tensors.
          max_length: most tokens decoded.
          beam_width: beam search's width (ignored by greedy decoding).
          length_normalization: beam search's alpha (ignored by greedy decoding).
          no_repeat: greedy decoding masks the tokens already emitted (ignored by beam search).

        Returns:
          The Annotator's decoded outputs (see `inference.Annotator.__call__`).
        """

    def serving_decoding(self, has_decoder: bool, beam_width: int) -> dict:
        """model_info.json's {"method", "beam_width"}."""
        del beam_width
        return {"method": self.serving_method if has_decoder else "top_k", "beam_width": 1}

    # ------------------------------------------------------------------ evaluation

    @abc.abstractmethod
    def score(self, trained, decoded: dict, *, data_dir: str, split: str, beam_width: int, convention: str,
              exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
        """A decoded split -> (metrics, predictions.jsonl entries, table, metrics.json extras)."""

    def summary_convention(self, convention: str) -> str | None:
        """metrics.json's "convention": the O-* convention where the task has one."""
        del convention
        return None

    @abc.abstractmethod
    def table_from_summary(self, summary: dict) -> str:
        """The paper's table rebuilt from a metrics.json payload."""

    @abc.abstractmethod
    def headline_metrics(self, summary: dict) -> dict:
        """The decoded outputs' metrics out of a metrics.json payload ({metric: value})."""

    def extra_outputs(self, predictions: list) -> dict:
        """{output key: JSON-able payload} written beside metrics.json (`evaluation.outputs`)."""
        del predictions
        return {}

    @abc.abstractmethod
    def validation_scores(self, decoded: dict, trained, references: dict | None) -> dict:
        """{history key: value} of the decoded sequences of one validation inside the training loop.

        Args:
          decoded: the Annotator's NumPy outputs plus "image_id" `[N]` and "truth" `[N, k]`.
          trained: the `TrainedModel` view of the model being trained.
          references: {image_id: [caption, ...]} when `validation_needs_references`, else None.
        """
        raise NotImplementedError

    def report_note(self) -> str:
        """An HTML paragraph explaining the report's panels ("" for none)."""
        return ""

    def report_panels(self, summary: dict, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
        """One image's report sections: [(heading, [(text, css class), ...]), ...]."""

    # ------------------------------------------------------------------ serving

    @abc.abstractmethod
    def output_names(self, config) -> list[str]:
        """The task's serving outputs for a `ModelConfig` (`serving.outputs.OUTPUT_DOCS` keys)."""

    @abc.abstractmethod
    def serving_outputs(self, raw: dict, trained) -> dict:
        """In-graph: Annotator outputs -> the task's string outputs (`output_names`)."""

    @abc.abstractmethod
    def prediction_entries(self, raw: dict, trained, per_image: list[dict]) -> None:
        """NumPy Annotator outputs -> sets "labels" or "captions" in each image's dict (predict)."""
