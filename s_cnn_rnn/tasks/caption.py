"""Captioning (SPEC I2, E2): beam search over words, coco-caption scores, the paper's Table 3/4."""

from s_cnn_rnn import record_schema
from s_cnn_rnn.tasks import base

# The commonest English function words, left out of the concepts the caption report lists: every
# caption has them, so the CNN's "top 3" would otherwise read "a, the, in" for every image (the one
# place this list lives; predictions.jsonl keeps every concept).
STOP_WORDS = ("a", "an", "the", "of", "in", "on", "at", "to", "with", "and", "is", "are", "it", "its", "for",
              "by", "from", "that", "this", "there", "some")
# Concepts listed per image in the caption report.
REPORT_CONCEPTS = 5
# Decoded validation scores captions without Java (METEOR needs it), with the scorer's Python PTB
# tokenizer: these groups, these keys, and the suffix that marks them.
VALIDATION_GROUPS = ("Bleu", "ROUGE_L", "CIDEr")
VALIDATION_KEYS = ("Bleu_4", "ROUGE_L", "CIDEr")
PYTHON_TOKENIZER_SUFFIX = "_pytok"

# SPEC I2: at most 20 words per caption.
MAX_CAPTION_LENGTH = 20


class CaptionTask(base.Task):
    """Concepts from caption words; decodes captions by beam search."""

    name = "caption"
    concepts_key = "num_concepts"
    vocab_size_key = "vocab_size"
    concept_vocab_file = record_schema.CONCEPTS_FILE
    best_metrics = {"joint": "val_CIDEr" + PYTHON_TOKENIZER_SUFFIX}
    validation_needs_references = True
    concepts_noun = "concepts"
    targets = "captions"
    targets_noun = "captions"
    serving_method = "beam_search"
    report_joiners = ("<br>", " | ")

    def concept_tokens(self, vocabularies) -> list[str]:
        return vocabularies.concepts.tokens

    def output_vocabulary(self, vocabularies):
        return vocabularies.words

    def one_row_per_image(self, captions_mode: str) -> bool:
        return captions_mode == "sample"

    def default_max_length(self, vocabularies) -> int:
        return MAX_CAPTION_LENGTH

    def decode(self, step_fn, initial_state, *, max_length: int, beam_width: int,
               length_normalization: float, no_repeat: bool = True) -> dict:
        """Beam search: "token_ids" `[B, beam, T]` (END excluded), "lengths" `[B, beam]`, "log_probs" `[B, beam]`."""
        from s_cnn_rnn import decoding  # pylint: disable=import-outside-toplevel  (TF)

        result = decoding.beam_search(
            step_fn, initial_state, record_schema.START_ID, record_schema.END_ID, beam_width=beam_width,
            max_length=max_length, length_normalization=length_normalization, banned_ids=base.BANNED_IDS,
        )
        return {"token_ids": result.token_ids, "lengths": result.lengths, "log_probs": result.log_probs}

    def serving_decoding(self, has_decoder: bool, beam_width: int) -> dict:
        return {"method": self.serving_method if has_decoder else "top_k", "beam_width": beam_width}

    def score(self, trained, decoded: dict, *, data_dir: str, split: str, beam_width: int, convention: str,
              exclude_absent_classes: bool) -> tuple[dict, list, str, dict]:
        from s_cnn_rnn.evaluation import scoring  # pylint: disable=import-outside-toplevel

        del convention, exclude_absent_classes  # multi-label only
        return scoring.score_captions(trained, decoded, data_dir, split, beam_width)

    def table_from_summary(self, summary: dict) -> str:
        from s_cnn_rnn.evaluation import tables  # pylint: disable=import-outside-toplevel

        beam_width = summary.get("decoding", {}).get("beam_width", 3)
        return tables.caption_table({f"{summary['model_name']} (beam {beam_width})": summary["metrics"]},
                                    summary.get("notes", {}), summary["num_images"])

    def headline_metrics(self, summary: dict) -> dict:
        return summary["metrics"]

    def extra_outputs(self, predictions: list) -> dict:
        """captions_results.json: the best caption per image, in the COCO results format."""
        return {"captions_results": [{"image_id": entry["image_id"], "caption": entry["caption"]}
                                     for entry in predictions]}

    def report_note(self) -> str:
        import html  # pylint: disable=import-outside-toplevel

        return (f"<p>Concepts: the concept layer's {REPORT_CONCEPTS} most probable, with their probabilities, "
                f"leaving out the function words {html.escape(', '.join(STOP_WORDS))}.</p>\n")

    def validation_scores(self, decoded: dict, trained, references: dict | None) -> dict:
        """BLEU-4, ROUGE-L and CIDEr of the best beams, Python tokenizer ("val_CIDEr_pytok", ...)."""
        from s_cnn_rnn import inference  # pylint: disable=import-outside-toplevel  (TF)
        from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

        references = references or {}
        beams = inference.caption_lists(decoded, trained.vocabularies)
        results = {int(i): (b[0][0] if b else "") for i, b in zip(decoded["image_id"], beams)
                   if references.get(int(i))}
        if not results:
            return {}
        scores = caption_scores.score_captions({i: references[i] for i in results}, results,
                                               metrics=VALIDATION_GROUPS, python_tokenizer=True)
        return {f"val_{key}{PYTHON_TOKENIZER_SUFFIX}": scores[key] for key in VALIDATION_KEYS}

    def report_panels(self, summary: dict, entry: dict) -> list[tuple[str, list[tuple[str, str]]]]:
        """Reference captions, the best beam, and the concept layer's most probable concepts with their
        probabilities, function words (`STOP_WORDS`) left out (supplementary Figs. 2, 3)."""
        sections = [("Ground truth", [(text, "") for text in entry["references"]] or [("(none)", "missing")]),
                    (f"Prediction (beam {summary['decoding']['beam_width']})", [(entry["caption"], "")])]
        if entry.get("concepts"):
            shown = [(concept, score) for concept, score in zip(entry["concepts"], entry["concept_scores"])
                     if concept not in STOP_WORDS][:REPORT_CONCEPTS]
            sections.append((f"Concept layer, top {len(shown)} without function words",
                             [(", ".join(f"{concept} {score:.2f}" for concept, score in shown) or "(none)", "")]))
        return sections

    def output_names(self, config) -> list[str]:
        return ["captions", "log_probs"] if config.has_decoder else []

    def serving_outputs(self, raw: dict, trained) -> dict:
        from s_cnn_rnn.serving import outputs  # pylint: disable=import-outside-toplevel  (TF)

        if not trained.config.has_decoder:
            return {}
        return outputs.caption_strings(raw, trained.vocabularies.words.tokens)

    def prediction_entries(self, raw: dict, trained, per_image: list[dict]) -> None:
        from s_cnn_rnn import inference  # pylint: disable=import-outside-toplevel  (TF)

        if trained.config.has_decoder:
            for entry, captions in zip(per_image, inference.caption_lists(raw, trained.vocabularies)):
                entry["captions"] = captions
