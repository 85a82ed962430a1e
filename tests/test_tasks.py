"""The task records (`s_cnn_rnn.tasks`) and the per-task jobs of the modules that do them: sizes,
decoding, metrics, tables, reports, serving outputs, registry."""

import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn import inference
from s_cnn_rnn import record_schema
from s_cnn_rnn import tasks
from s_cnn_rnn.evaluation import outputs as evaluation_outputs
from s_cnn_rnn.evaluation import report
from s_cnn_rnn.evaluation import scoring
from s_cnn_rnn.evaluation import tables
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.serving import export_lib
from s_cnn_rnn.serving import outputs as serving_outputs
from s_cnn_rnn.serving import predict_lib
from s_cnn_rnn.training import decoded_validation
from s_cnn_rnn.vocabulary import Vocabularies, Vocabulary

INFO = {"num_concepts": 7, "vocab_size": 40, "num_labels": 5, "num_label_tokens": 8, "num_tags": 2}
LABELS = ["rare", "mid", "common"]


def _vocabularies() -> Vocabularies:
    return Vocabularies(
        words=Vocabulary(list(record_schema.WORD_SPECIALS) + ["a", "dog", "runs"]),
        concepts=Vocabulary(["dog", "runs"]),
        labels=Vocabulary(LABELS),
        tags=Vocabulary([]),
    )


def test_registry_lists_both_tasks_and_refuses_an_unknown_one_in_one_line():
    assert tasks.NAMES == ("caption", "multilabel")
    assert [tasks.get(name).name for name in tasks.NAMES] == list(tasks.NAMES)
    with pytest.raises(tasks.UnknownTaskError) as raised:
        tasks.get("captioning")
    message = str(raised.value)
    assert message == "unknown task 'captioning': --task must be one of caption, multilabel"
    assert "\n" not in message and isinstance(raised.value, ValueError)


def test_the_task_modules_import_no_tensorflow():
    code = ("import sys; from s_cnn_rnn import tasks; tasks.get('caption'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_sizes_come_from_the_task_s_vocabularies():
    assert tasks.get("caption").sizes(INFO) == (7, 40)  # concepts.txt, words.txt
    assert tasks.get("multilabel").sizes(INFO) == (5, 8)  # labels.txt, labels + <pad> <start> <end>
    assert tasks.get("caption").concept_vocab_file == record_schema.CONCEPTS_FILE
    assert tasks.get("multilabel").concept_vocab_file == record_schema.LABELS_FILE


def test_vocabularies_and_pipeline_needs():
    vocabularies = _vocabularies()
    caption, multilabel = tasks.get("caption"), tasks.get("multilabel")
    assert caption.concept_tokens(vocabularies) == ["dog", "runs"]
    assert multilabel.concept_tokens(vocabularies) == LABELS
    assert caption.output_vocabulary(vocabularies).tokens == vocabularies.words.tokens
    assert multilabel.output_vocabulary(vocabularies).tokens == list(record_schema.LABEL_SPECIALS) + LABELS
    assert (caption.targets, multilabel.targets) == ("captions", "labels")
    assert caption.one_row_per_image("sample") and not caption.one_row_per_image("all")
    assert multilabel.one_row_per_image("sample") and multilabel.one_row_per_image("all")
    assert caption.default_max_length(vocabularies) == 20
    assert multilabel.default_max_length(vocabularies) == len(LABELS)


def _step_fn(preferences):
    """A decoder whose logits do not depend on the state: `preferences` float `[V]`."""
    def step(token_ids, state):
        logits = tf.tile(tf.constant([preferences], tf.float32), [tf.shape(token_ids)[0], 1])
        return logits, state
    return step


def test_multilabel_decodes_greedily_without_repeats():
    # Token 3 (label 0) is always the best: greedy without repeats emits it once, then the next best.
    preferences = [0.0, 0.0, 1.0, 5.0, 3.0, -1.0]  # <pad> <start> <end> rare mid common
    state = (tf.zeros([2, 4]),)
    outputs = inference.decode(tasks.get("multilabel"), _step_fn(preferences), state, max_length=3, beam_width=7,
                               length_normalization=0.0)
    assert set(outputs) == {"token_ids", "lengths", "token_probs"}
    assert outputs["token_ids"].shape[:1] == [2] and outputs["token_ids"].shape.rank == 2
    first = outputs["token_ids"].numpy()[0][:int(outputs["lengths"].numpy()[0])].tolist()
    assert first == [3, 4]  # rare, mid; then <end> beats "common"


def test_caption_decodes_by_beam_search_with_its_width():
    preferences = [0.0, 0.0, 2.0, -1.0, 1.0, 0.5, 0.2]
    state = (tf.zeros([2, 4]),)
    outputs = inference.decode(tasks.get("caption"), _step_fn(preferences), state, max_length=4, beam_width=3,
                               length_normalization=0.0)
    assert set(outputs) == {"token_ids", "lengths", "log_probs"}
    assert outputs["log_probs"].shape == [2, 3] and outputs["token_ids"].shape.rank == 3


def test_serving_decoding_and_output_names():
    def trained(task, has_decoder):
        return types.SimpleNamespace(task=task, config=types.SimpleNamespace(has_decoder=has_decoder,
                                                                             has_concept_loss=False))

    caption, multilabel = tasks.get("caption"), tasks.get("multilabel")
    assert export_lib.decoding_info(caption, True, 3) == {"method": "beam_search", "beam_width": 3}
    assert export_lib.decoding_info(multilabel, True, 3) == {"method": "greedy", "beam_width": 1}
    assert export_lib.decoding_info(multilabel, False, 3) == {"method": "top_k", "beam_width": 1}
    assert serving_outputs.output_names(trained("caption", True)) == ["captions", "log_probs"]
    assert serving_outputs.output_names(trained("caption", False)) == []
    assert serving_outputs.output_names(trained("multilabel", False)) == ["labels", "label_scores", "num_labels"]


def _multilabel_decoded():
    offset = len(record_schema.LABEL_SPECIALS)
    return {
        "image_id": np.array([10, 11]),
        "truth": np.array([[1, 0, 1], [0, 1, 1]], np.float32),
        "token_ids": np.array([[0 + offset, record_schema.END_ID, 0], [1 + offset, 2 + offset, record_schema.END_ID]]),
        "lengths": np.array([1, 2]),
        "token_probs": np.array([[0.9, 0.8, 0.0], [0.7, 0.6, 0.5]], np.float32),
        "concept_probs": np.array([[0.9, 0.1, 0.6], [0.2, 0.8, 0.3]], np.float32),
    }


def test_multilabel_metrics_and_table_rows():
    config = ModelConfig(variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", num_concepts=3,
                         vocab_size=6)
    trained = types.SimpleNamespace(task="multilabel", vocabularies=_vocabularies(), config=config)
    task = tasks.get("multilabel")
    metrics, predictions, table, details = scoring.score(
        trained, _multilabel_decoded(), data_dir="unused", split="test", beam_width=3, convention="pooled",
        exclude_absent_classes=False)
    assert list(metrics) == ["decoded", "concept_top3", "concept_threshold"]
    assert set(metrics["decoded"]) == {"C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"}
    assert metrics["decoded"]["O-P"] == pytest.approx(1.0)  # 3 labels emitted, all right
    assert predictions[1]["labels"] == ["mid", "common"] and predictions[0]["ground_truth"] == ["rare", "common"]
    assert details["decoding"] == {"method": "greedy"}
    assert task.summary_convention("per_image") == "per_image"
    summary = {"metrics": metrics, "metrics_by_convention": details["metrics_by_convention"],
               "rows": details["rows"], "convention": "pooled", "num_images": 2, "model_name": "S-CNN-RNN",
               "task": "multilabel"}
    assert tables.headline_metrics(summary) == metrics["decoded"]
    rebuilt = tables.table_from_summary(summary)
    assert rebuilt == table  # no absent class: the printed table is the rebuilt one
    for row_name in details["rows"].values():
        assert row_name in rebuilt
    panels = report.LAYOUTS["multilabel"].panels(summary, predictions[1])
    assert [heading for heading, _ in panels] == ["Ground truth (rare first)", "Concept layer (top 3, by score)",
                                                  "S-CNN-RNN (emitted order)"]
    assert evaluation_outputs.EXTRA_OUTPUTS["multilabel"](predictions) == {}


def test_caption_table_rows_and_extra_outputs():
    task = tasks.get("caption")
    assert task.summary_convention("pooled") is None
    scores = {"Bleu_1": 0.5, "Bleu_2": 0.4, "Bleu_3": 0.3, "Bleu_4": 0.2, "METEOR": None, "ROUGE_L": 0.45,
              "CIDEr": 1.25}
    summary = {"metrics": scores, "notes": {"METEOR": "no Java"}, "num_images": 4, "model_name": "NIC",
               "decoding": {"method": "beam", "beam_width": 3}, "task": "caption"}
    table = tables.table_from_summary(summary).splitlines()
    assert table[0] == "Captioning (coco-caption scores), 4 images."
    assert table[1].split() == ["method", "B-1", "B-2", "B-3", "B-4", "METEOR", "ROUGE-L", "CIDEr"]
    assert table[3].split() == ["NIC", "(beam", "3)", "0.500", "0.400", "0.300", "0.200", "n/a", "0.450", "1.250"]
    assert table[4] == "note: METEOR: no Java"
    assert tables.headline_metrics(summary) is scores
    predictions = [{"image_id": 1, "caption": "a dog", "references": ["a dog runs"], "concepts": ["the", "dog"],
                    "concept_scores": [0.95, 0.9]}]
    assert evaluation_outputs.EXTRA_OUTPUTS["caption"](predictions) == {
        "captions_results": [{"image_id": 1, "caption": "a dog"}]}
    panels = report.LAYOUTS["caption"].panels(summary, predictions[0])
    assert panels == [("Ground truth", [("a dog runs", "")]), ("Prediction (beam 3)", [("a dog", "")]),
                      ("Concept layer, top 1 without function words", [("dog 0.90", "")])]


def test_every_per_task_table_has_every_task():
    # A job done per task is a table keyed by the task's name (or its decoding): a task missing from one would
    # fail only when that job runs.
    for table in (scoring.SCORERS, tables.FROM_SUMMARY, evaluation_outputs.EXTRA_OUTPUTS, report.LAYOUTS,
                  decoded_validation.SEQUENCE_SCORES, serving_outputs.TASK_OUTPUTS, predict_lib.PREDICTION_ENTRIES):
        assert sorted(table) == sorted(tasks.NAMES)
    assert {tasks.get(name).decoding for name in tasks.NAMES} <= set(inference.DECODERS)
