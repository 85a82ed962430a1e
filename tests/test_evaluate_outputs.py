"""`s-cnn-rnn-evaluate` loses no work and says what it measured: output dir checked first, partial runs
kept apart, split coverage and absent classes reported, any batch size (beam search with one image)."""

import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest

from s_cnn_rnn.evaluation import outputs
from s_cnn_rnn.evaluation import runner
from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn.vocabulary import Vocabulary
from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
def _run(*flags) -> cli_runner.Completed:
    """The evaluate command with METEOR's Java hidden (fast) and a line on stderr when decoding starts."""
    decode = runner.decode_split

    def announced_decode(*args, **kwargs):
        print("DECODING STARTED", file=sys.stderr)
        return decode(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(caption_scores, "find_java", lambda: None)
        patch.setattr(runner, "decode_split", announced_decode)
        return cli_runner.run("s_cnn_rnn.evaluate", *flags, "--noprogress", cwd=PROJECT_ROOT)


def test_unwritable_output_dir_is_refused_before_any_decoding(tiny_synthetic_data, tiny_multilabel_model_dir,
                                                               tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output dir's parent should be")
    completed = _run(f"--model_dir={tiny_multilabel_model_dir}", f"--data_dir={tiny_synthetic_data}",
                     f"--output_dir={blocker / 'eval'}")
    assert completed.returncode == 2
    assert f"{blocker / 'eval'} is not writable" in completed.stderr and "pass --output_dir=" in completed.stderr
    assert "DECODING STARTED" not in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_model_dir_without_output_dir_is_refused_first(tiny_synthetic_data, tiny_multilabel_model_dir,
                                                                  tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_multilabel_model_dir, model_dir)
    os.chmod(model_dir, 0o555)
    try:
        completed = _run(f"--model_dir={model_dir}", f"--data_dir={tiny_synthetic_data}")
    finally:
        os.chmod(model_dir, 0o755)
    assert completed.returncode == 2 and "is not writable: pass --output_dir=" in completed.stderr
    assert "DECODING STARTED" not in completed.stderr


def test_partial_evaluation_never_overwrites_the_full_metrics(tiny_synthetic_data, tiny_multilabel_model_dir,
                                                              tmp_path):
    full = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", show_progress=False)
    full_paths = runner.write_outputs(full, str(tmp_path))
    before = pathlib.Path(full_paths["metrics"]).read_text(encoding="utf-8")
    partial = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", max_images=5,
                              show_progress=False)
    paths = runner.write_outputs(partial, str(tmp_path))
    assert pathlib.Path(full_paths["metrics"]).read_text(encoding="utf-8") == before
    assert paths["metrics"] == str(tmp_path / "max_images-5" / "metrics.json")
    assert json.loads(pathlib.Path(paths["metrics"]).read_text(encoding="utf-8"))["num_images"] == 5
    assert len(pathlib.Path(full_paths["predictions"]).read_text(encoding="utf-8").splitlines()) == 8


def test_metrics_say_how_much_of_the_split_was_evaluated(tiny_synthetic_data, tiny_multilabel_model_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(tiny_synthetic_data, data_dir)
    manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["skipped"] += [{"id": 900, "kind": "image", "reason": "truncated", "split": "test"},
                            {"id": 901, "kind": "image", "reason": "truncated", "split": "train"},
                            {"id": 902, "kind": "caption", "reason": "no words", "split": "test"}]
    (data_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = runner.evaluate(tiny_multilabel_model_dir, str(data_dir), split="test", max_images=5,
                             show_progress=False)
    assert result.summary["coverage"] == {"split_images": 8, "evaluated": 5, "converter_skipped": 1,
                                          "converter_skipped_no_split": 0}
    line = "evaluated 5 of 8 images of split test; the converter skipped 1 (manifest.json)"
    assert result.table.splitlines()[0] == line == result.summary["coverage_text"]


def test_absent_classes_are_reported_or_excluded(tiny_synthetic_data, tiny_multilabel_model_dir):
    default = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", max_images=2,
                              show_progress=False)
    excluded = runner.evaluate(tiny_multilabel_model_dir, tiny_synthetic_data, split="test", max_images=2,
                               show_progress=False, exclude_absent_classes=True)
    labels = Vocabulary.load(os.path.join(tiny_multilabel_model_dir, "vocab", "labels.txt"))
    present = {name for entry in default.predictions for name in entry["ground_truth"]}
    absent = [name for name in labels.tokens if name not in present]
    assert absent, "two images cannot hold every label"
    info = default.summary["absent_classes"]
    assert info == {"count": len(absent), "of": len(labels), "names": absent, "excluded": False}
    assert excluded.summary["absent_classes"]["excluded"] is True
    note = f"note: {len(absent)} of {len(labels)} classes have no positive among the 2 evaluated images"
    assert note in default.table
    assert "counted in C-P/C-R with recall 0" in default.table and "left out of C-P/C-R" in excluded.table

    truth = np.array([[name in entry["ground_truth"] for name in labels.tokens] for entry in default.predictions])
    guess = np.array([[name in entry["concept_labels"] for name in labels.tokens] for entry in default.predictions])
    expected = multilabel.multilabel_metrics(truth, guess, "pooled", empty_truth="exclude")
    assert excluded.metrics["concept_top3"] == pytest.approx(expected)
    assert default.metrics["concept_top3"] == pytest.approx(multilabel.multilabel_metrics(truth, guess, "pooled"))


def test_cli_captions_with_one_image_decodes_a_batch_of_one(tiny_synthetic_data, tiny_caption_model_dir, tmp_path):
    """The beam search used to crash on a first batch of one image (tf.function, static batch 1)."""
    completed = _run(f"--model_dir={tiny_caption_model_dir}", f"--data_dir={tiny_synthetic_data}",
                     f"--output_dir={tmp_path}", "--max_images=1")
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((tmp_path / "max_images-1" / "metrics.json").read_text(encoding="utf-8"))
    assert summary["num_images"] == 1 and summary["coverage"]["evaluated"] == 1
    assert "evaluated 1 of 8 images of split test" in completed.stdout


def test_check_writable_accepts_a_new_dir_under_a_writable_one(tmp_path):
    outputs.check_writable(str(tmp_path / "a" / "b"))
    assert not (tmp_path / "a").exists()  # the check creates nothing
