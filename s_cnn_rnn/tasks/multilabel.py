"""Multi-label annotation (SPEC I1, I3, E1): greedy label sequences without repeats, the paper's Table 1/2."""

from s_cnn_rnn import record_schema
from s_cnn_rnn.tasks import base


class MultiLabelTask(base.Task):
    """Concepts are the dataset's labels; decodes rare-first label sequences greedily."""

    name = "multilabel"
    concepts_key = "num_labels"
    vocab_size_key = "num_label_tokens"
    concept_vocab_file = record_schema.LABELS_FILE
    best_metrics = {"cnn": "val_concept_O-F1", "joint": "val_O-F1"}
    concepts_noun = "labels"
    targets = "labels"
    targets_noun = "labels"
    serving_method = "greedy"
    report_joiners = (", ", ", ")

    def concept_tokens(self, vocabularies) -> list[str]:
        return vocabularies.labels.tokens

    def output_vocabulary(self, vocabularies):
        return vocabularies.label_sequence_vocabulary()

    def default_max_length(self, vocabularies) -> int:
        # A label is never emitted twice, so no sequence is longer than the label set.
        return max(len(vocabularies.labels), 1)

    def decode(self, step_fn, initial_state, *, max_length: int, beam_width: int,
               length_normalization: float, no_repeat: bool = True) -> dict:
        """Greedy, by default masking the labels already emitted (D-12): "token_ids" `[B, T]` (label index + 3,
        END included), "lengths" `[B]`, "token_probs" `[B, T]`."""
        from s_cnn_rnn import decoding  # pylint: disable=import-outside-toplevel  (TF)

        del beam_width, length_normalization  # greedy (SPEC I1)
        result = decoding.greedy_decode(step_fn, initial_state, record_schema.START_ID, record_schema.END_ID, max_length,
                                        banned_ids=base.BANNED_IDS, no_repeat=no_repeat)
        return {"token_ids": result.token_ids, "lengths": result.lengths, "token_probs": result.token_probs}

    def score(self, trained, decoded: dict, *, data_dir: str, split: str, beam_width: int, convention: str,
              exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
        from s_cnn_rnn.evaluation import scoring  # pylint: disable=import-outside-toplevel

        del data_dir, split, beam_width  # the truth is in the decoded batches
        return scoring.score_multilabel(trained, decoded, convention, exclude_absent_classes)

    def summary_convention(self, convention: str) -> str | None:
        return convention

    def table_from_summary(self, summary: dict) -> str:
        from s_cnn_rnn.evaluation import tables  # pylint: disable=import-outside-toplevel

        return tables.multilabel_table(summary["metrics_by_convention"], summary["rows"], summary["convention"],
                                       summary["num_images"])

    def headline_metrics(self, summary: dict) -> dict:
        return summary["metrics"]["decoded"]

    def report_panels(self, summary: dict, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
        """Ground truth rare-first, the concept layer's top 3 and the decoded labels, right ones
        marked "hit" and wrong ones "miss" (supplementary Fig. 1)."""
        truth = set(entry["ground_truth"])

        def marked(labels):
            return [(label, "hit" if label in truth else "miss") for label in labels]

        truth_items = [(label, "") for label in entry["ground_truth"]] or [("(none)", "missing")]
        sections = [("Ground truth (rare first)", truth_items)]
        if "concept_labels" in entry:
            heading = f"Concept layer (top {len(entry['concept_labels'])}, by score)"
            sections.append((heading, marked(entry["concept_labels"])))
        if "decoded" in summary.get("rows", {}):
            sections.append((f"{summary['model_name']} (emitted order)",
                             marked(entry["labels"]) or [("(no label)", "missing")]))
        return sections

    def output_names(self, config) -> list[str]:
        # A model without decoder reports its top_k labels under the same names (SPEC I3).
        return ["labels", "label_scores", "num_labels"]

    def serving_outputs(self, raw: dict, trained) -> dict:
        from s_cnn_rnn.serving import outputs  # pylint: disable=import-outside-toplevel  (TF)

        tokens = trained.vocabularies.labels.tokens
        if trained.config.has_decoder:
            return outputs.label_strings(raw, tokens)
        return outputs.top_k_label_strings(raw, tokens)

    def prediction_entries(self, raw: dict, trained, per_image: list[dict]) -> None:
        from s_cnn_rnn import inference  # pylint: disable=import-outside-toplevel  (TF)

        if trained.config.has_decoder:
            decoded = inference.label_lists(raw, trained.vocabularies)
        else:  # fixed-length model (SPEC I3): its top-3 concepts are its labels
            decoded = [entry["concepts"] for entry in per_image]
        for entry, labels in zip(per_image, decoded):
            entry["labels"] = labels

    def validation_scores(self, decoded: dict, trained, references: dict | None) -> dict:
        """Pooled C-F1 and O-F1 of the greedy label sequences ("val_C-F1", "val_O-F1")."""
        from s_cnn_rnn.metrics import multilabel  # pylint: disable=import-outside-toplevel

        truth = decoded["truth"] > 0.5  # [N, k]
        sequences = [ids[:length] for ids, length in zip(decoded["token_ids"], decoded["lengths"])]
        predicted = multilabel.sequences_to_multi_hot(
            sequences, truth.shape[1], offset=len(record_schema.LABEL_SPECIALS), end_id=record_schema.END_ID)
        scores = multilabel.multilabel_metrics(truth, predicted, "pooled")
        return {f"val_{key}": scores[key] for key in ("C-F1", "O-F1")}
