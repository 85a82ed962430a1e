"""End-to-end tests of `s-cnn-rnn-evaluate` (library and CLI) on the tiny trained models."""

import json
import os
import pathlib
import shutil

import numpy as np
import pytest

from s_cnn_rnn.evaluation import references
from s_cnn_rnn.evaluation import report
from s_cnn_rnn.evaluation import runner
from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.vocabulary import Vocabulary
from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"task", "split", "num_images", "model_dir", "checkpoints", "metrics", "convention"}
LABEL_COLUMNS = ("C-R", "C-P", "C-F1", "O-R", "O-P", "O-F1")
CAPTION_COLUMNS = ("B-1", "B-2", "B-3", "B-4", "METEOR", "ROUGE-L", "CIDEr")


def _split_size(data_dir: str, split: str = "test") -> int:
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as handle:
        return json.load(handle)["splits"][split]["num_examples"]


def _read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _assert_columns_in_order(table: str, columns) -> None:
    header = next(line for line in table.splitlines() if line.startswith("method"))
    positions = [header.index(f" {column}") for column in columns]
    assert positions == sorted(positions), header


def _run_cli(*flags, without_java: bool = False) -> cli_runner.Completed:
    """`python -m s_cnn_rnn.evaluate FLAGS` (in this process); `without_java` hides java from
    caption_scores (METEOR's JVM start costs ~10 s)."""
    with pytest.MonkeyPatch.context() as patch:
        if without_java:
            patch.setattr(caption_scores, "find_java", lambda: None)
        return cli_runner.run("s_cnn_rnn.evaluate", *flags, cwd=PROJECT_ROOT)


@pytest.fixture(scope="module")
def multilabel_run(tiny_synthetic_data, tiny_multilabel_model_dir, tmp_path_factory):
    """The multi-label model evaluated on test with a batch size that leaves a padded last batch."""
    result = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", batch_size=3,
                             show_progress=False)
    output_dir = tmp_path_factory.mktemp("multilabel_eval")
    return result, runner.write_outputs(result, str(output_dir))


@pytest.fixture(scope="module")
def caption_run(tiny_synthetic_data, tiny_caption_model_dir, tmp_path_factory):
    """The caption model evaluated without Java (METEOR n/a, Python tokenisation: fast)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(caption_scores, "find_java", lambda: None)
        result = runner.evaluate(tiny_caption_model_dir, tiny_synthetic_data, split="test", batch_size=5,
                                 show_progress=False)
    output_dir = tmp_path_factory.mktemp("caption_eval")
    return result, runner.write_outputs(result, str(output_dir))


def test_multilabel_outputs_and_metrics_recomputed(multilabel_run, tiny_synthetic_data, tiny_multilabel_model_dir):
    result, paths = multilabel_run
    with open(paths["metrics"], encoding="utf-8") as handle:
        summary = json.load(handle)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["task"] == "multilabel" and summary["convention"] == "pooled"
    assert summary["num_images"] == _split_size(tiny_synthetic_data) == 8
    assert summary["checkpoints"] and all(os.path.exists(path + ".index") for path in summary["checkpoints"].values())
    assert set(summary["metrics"]) == {"decoded", "concept_top3", "concept_threshold"}
    assert summary["metrics"] == summary["metrics_by_convention"]["pooled"]

    predictions = _read_jsonl(paths["predictions"])
    assert len(predictions) == 8 and predictions == json.loads(json.dumps(result.predictions))
    # Ground truth is the records' label sequence, rare-first.
    records = {record.image_id: record for record in references.read_split(tiny_synthetic_data, "test")}
    assert {entry["image_id"] for entry in predictions} == set(records)
    labels = Vocabulary.load(os.path.join(tiny_multilabel_model_dir, "vocab", "labels.txt"))
    for entry in predictions:
        assert entry["ground_truth"] == [labels.token_of(i) for i in records[entry["image_id"]].label_indices]
        assert {"labels", "scores", "ground_truth"} <= set(entry) and len(entry["labels"]) == len(entry["scores"])
        assert len(entry["concept_labels"]) == 3

    def multi_hot(key):
        return np.array([[label in entry[key] for label in labels.tokens] for entry in predictions])

    truth = multi_hot("ground_truth")
    for convention in ("pooled", "per_image"):
        reported = summary["metrics_by_convention"][convention]
        assert multilabel.multilabel_metrics(truth, multi_hot("labels"), convention) == pytest.approx(reported["decoded"])
        assert multilabel.multilabel_metrics(truth, multi_hot("concept_labels"), convention) == pytest.approx(
            reported["concept_top3"])
    assert summary["metrics_by_convention"]["pooled"] != summary["metrics_by_convention"]["per_image"]

    _assert_columns_in_order(result.table, LABEL_COLUMNS)
    assert "CNN+logistic (this model's concept layer, top-3)" in result.table
    assert "greedy" in result.table and "O-R/img" in result.table


def test_padding_and_max_images_do_not_change_predictions(multilabel_run, tiny_synthetic_data,
                                                          tiny_multilabel_model_dir):
    first, _ = multilabel_run  # batch 3: the last batch of 2 was padded
    result = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", batch_size=8,
                             max_images=5, show_progress=False, convention="per_image")
    assert result.summary["num_images"] == len(result.predictions) == 5
    assert result.metrics == result.summary["metrics_by_convention"]["per_image"]
    for padded, whole in zip(first.predictions[:5], result.predictions):
        assert padded["image_id"] == whole["image_id"] and padded["labels"] == whole["labels"]
        np.testing.assert_allclose(padded["scores"], whole["scores"], rtol=1e-4, atol=1e-6)


def test_caption_results_coco_format_and_scores(caption_run, tiny_synthetic_data):
    result, paths = caption_run
    results = caption_scores.load_results(paths["captions_results"])  # validates the COCO results format
    with open(paths["captions_results"], encoding="utf-8") as handle:
        assert all(set(entry) == {"image_id", "caption"} for entry in json.load(handle))
    records = references.read_split(tiny_synthetic_data, "test")
    assert set(results) == {record.image_id for record in records} and len(results) == 8
    predictions = _read_jsonl(paths["predictions"])
    assert all(results[entry["image_id"]] == entry["caption"] == entry["beams"][0]["caption"] for entry in predictions)
    assert all(len(entry["beams"]) <= 3 and entry["references"] for entry in predictions)

    with open(paths["metrics"], encoding="utf-8") as handle:
        summary = json.load(handle)
    assert SUMMARY_KEYS <= set(summary) and summary["task"] == "caption" and summary["num_images"] == 8
    assert summary["metrics"]["METEOR"] is None and "Java" in summary["notes"]["METEOR"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(caption_scores, "find_java", lambda: None)
        rescored = caption_scores.score_captions(references.caption_references(records), results)
    for key in ("Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"):
        assert summary["metrics"][key] == pytest.approx(rescored[key])

    _assert_columns_in_order(result.table, CAPTION_COLUMNS)
    row = next(line for line in result.table.splitlines() if line.startswith("S-CNN-RNN (beam 3)"))
    assert row.split()[-3:-1] == ["n/a", f"{summary['metrics']['ROUGE_L']:.3f}"]
    assert "METEOR needs Java" in result.table


def test_report_shows_ground_truth_and_predictions(multilabel_run, caption_run, tiny_synthetic_data, tmp_path):
    from PIL import Image  # pylint: disable=import-outside-toplevel

    result, _ = multilabel_run
    paths = report.write_report(result, tiny_synthetic_data, str(tmp_path / "labels" / "report.html"), num_images=5)
    page = pathlib.Path(paths["html"]).read_text(encoding="utf-8")
    assert page.count("<figure") == 5 and page.count('src="data:image/jpeg;base64,') == 5
    assert page.count("Ground truth (rare first)") == 5 and page.count("S-CNN-RNN (emitted order)") == 5
    for entry in result.predictions[:5]:
        assert f'data-image-id="{entry["image_id"]}"' in page
        assert f'<span class="">{entry["ground_truth"][0]}</span>' in page
    with Image.open(paths["png"]) as grid:
        assert grid.format == "PNG" and grid.width > 400

    captions, _ = caption_run
    paths = report.write_report(captions, tiny_synthetic_data, str(tmp_path / "captions.html"), num_images=3)
    page = pathlib.Path(paths["html"]).read_text(encoding="utf-8")
    assert page.count("<figure") == 3 and os.path.isfile(tmp_path / "captions.png")
    import html  # pylint: disable=import-outside-toplevel

    for entry in captions.predictions[:3]:
        assert html.escape(entry["references"][0]) in page and html.escape(entry["caption"]) in page


def _fixed_length_model_dir(data_dir: str, model_dir: str) -> str:
    """An untrained cnn_logistic (V5) model dir: a joint checkpoint, its config and vocabularies."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import input_pipeline  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.models import builder  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.models.config import ModelConfig  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn import model_dir as model_dir_lib  # pylint: disable=import-outside-toplevel

    info = input_pipeline.dataset_info(data_dir)
    config = ModelConfig(variant="cnn_logistic", backbone="small_cnn", backbone_weights="none", image_size=32,
                         num_concepts=info["num_labels"], vocab_size=info["num_label_tokens"], small_cnn_width=8,
                         num_tags=info["num_tags"])
    model = builder.build_model(config)
    model_dir_lib.bind_vocabularies(model_dir, data_dir)
    model_dir_lib.save_config(model_dir, dict(config.to_dict(), task="multilabel"))
    tf.train.CheckpointManager(tf.train.Checkpoint(**model.checkpoint_items()),
                               os.path.join(model_dir, "joint", "checkpoints"), max_to_keep=1).save()
    return model_dir


def test_fixed_length_model_has_only_concept_rows(tiny_synthetic_data, tmp_path):
    model_dir = _fixed_length_model_dir(tiny_synthetic_data, str(tmp_path / "model"))
    result = runner.evaluate(model_dir, tiny_synthetic_data, split="val", show_progress=False)
    assert set(result.metrics) == {"concept_top3", "concept_threshold"} and "greedy" not in result.table
    assert len(result.predictions) == _split_size(tiny_synthetic_data, "val")
    for entry in result.predictions:
        assert entry["labels"] == entry["concept_labels"] and len(entry["labels"]) == 3
        assert entry["scores"] == sorted(entry["scores"], reverse=True)


def test_model_dir_without_model_is_a_clear_error(tiny_synthetic_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no trained model"):
        runner.evaluate(str(tmp_path), tiny_synthetic_data, show_progress=False)
    with pytest.raises(ValueError, match="convention"):
        runner.evaluate(str(tmp_path), tiny_synthetic_data, convention="macro")


def test_data_with_other_vocabularies_is_refused(tiny_synthetic_data, tiny_multilabel_model_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_synthetic_data, data_dir)
    labels_file = data_dir / "vocab" / "labels.txt"
    lines = labels_file.read_text(encoding="utf-8").splitlines(keepends=True)
    labels_file.write_text("".join([lines[1], lines[0]] + lines[2:]), encoding="utf-8")
    with pytest.raises(model_dir_lib.VocabularyMismatchError, match=r"labels.*differ"):
        runner.evaluate(tiny_multilabel_model_dir, str(data_dir), show_progress=False)


def test_cli_multilabel_writes_outputs_and_report(tiny_synthetic_data, tiny_multilabel_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_multilabel_model_dir, model_dir)  # the default output dir is inside it
    completed = _run_cli(f"--model_dir={model_dir}", f"--data_dir={tiny_synthetic_data}", "--split=val",
                         "--batch_size=4", "--noprogress", f"--report={tmp_path / 'report.html'}",
                         "--report_images=4", "--convention=per_image")
    assert completed.returncode == 0, completed.stderr[-3000:]
    _assert_columns_in_order(completed.stdout, LABEL_COLUMNS)
    assert "O-*/pool" in completed.stdout
    output_dir = model_dir / "eval_val"
    summary = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert summary["convention"] == "per_image" and summary["split"] == "val"
    assert len(_read_jsonl(output_dir / "predictions.jsonl")) == _split_size(tiny_synthetic_data, "val")
    assert (tmp_path / "report.html").read_text(encoding="utf-8").count("<figure") == 4
    assert (tmp_path / "report.png").is_file()

    completed = _run_cli(f"--model_dir={tmp_path / 'nothing'}", f"--data_dir={tiny_synthetic_data}")
    assert completed.returncode == 2 and "holds no trained model" in completed.stderr


def test_cli_captions(tiny_synthetic_data, tiny_caption_model_dir, tmp_path):
    """The CLI's caption path, with Java hidden (METEOR n/a) to keep the test fast."""
    completed = _run_cli(f"--model_dir={tiny_caption_model_dir}", f"--data_dir={tiny_synthetic_data}",
                         f"--output_dir={tmp_path}", "--max_images=4", "--noprogress", without_java=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    _assert_columns_in_order(completed.stdout, CAPTION_COLUMNS)
    assert "n/a" in completed.stdout and "METEOR needs Java" in completed.stdout
    partial = tmp_path / "max_images-4"  # a partial evaluation never replaces the split's metrics.json
    summary = json.loads((partial / "metrics.json").read_text(encoding="utf-8"))
    assert summary["num_images"] == 4 and summary["metrics"]["METEOR"] is None
    assert summary["metrics"]["CIDEr"] is not None
    assert len(caption_scores.load_results(partial / "captions_results.json")) == 4
    assert not (tmp_path / "metrics.json").exists()
