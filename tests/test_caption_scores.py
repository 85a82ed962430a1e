"""Tests for s_cnn_rnn.metrics.caption_scores (and ptb_tokenizer) and s-cnn-rnn-score-captions.

The fixture tests reproduce the scores the coco-caption demo printed for its fake results file;
with Java they run METEOR, whose JVM takes several seconds to start.
"""

import gzip
import json
import os
import pathlib
import shutil

import pytest

from s_cnn_rnn.metrics import caption_scores
from s_cnn_rnn.metrics.caption_scores import (
    CaptionDataError,
    load_references,
    load_results,
    score_captions,
)
from s_cnn_rnn.metrics.ptb_tokenizer import python_ptb_tokenize
from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")

REFERENCES = {
    1: ["A dog runs across the green field.", "A brown dog is running on grass."],
    2: ["A red car parked on the street.", "A small red car beside the road."],
    3: ["Two people ride bikes down a hill.", "People riding bicycles downhill."],
}


@pytest.fixture
def no_java(monkeypatch):
    monkeypatch.setattr(caption_scores, "find_java", lambda: None)


@pytest.fixture
def coco_eval_files(shared_data_dir):
    folder = shared_data_dir / "coco_caption_eval"
    expected = json.loads((folder / "expected_scores.json").read_text())
    return (
        folder / "captions_val2014_fakecap_subset_refs.json",
        folder / "captions_val2014_fakecap_results.json",
        expected,
    )


def assert_scores_match(scores: dict, expected: dict, tolerance: float) -> None:
    for name, value in expected.items():
        assert abs(scores[name] - value) <= tolerance, (name, scores[name], value)


def test_no_java_scores_all_but_meteor_close_to_coco_caption(no_java, coco_eval_files):
    references_path, results_path, expected = coco_eval_files
    scores = score_captions(load_references(references_path), load_results(results_path))
    assert scores["METEOR"] is None
    assert set(scores["unavailable"]) == {"METEOR", "PTBTokenizer"}
    assert "java not found" in scores["unavailable"]["METEOR"]
    assert "tokenised in Python" in scores["unavailable"]["PTBTokenizer"]
    # Measured: BLEU and ROUGE_L identical to the PTB path, CIDEr 0.0001 higher.
    expected_without_meteor = {k: v for k, v in expected["scores"].items() if k != "METEOR"}
    assert_scores_match(scores, expected_without_meteor, 0.001)


def test_no_java_identical_captions_score_one(no_java):
    results = {1: "a dog runs across the green field", 2: "A red car, parked on the street!"}
    scores = score_captions(REFERENCES, results, metrics=("Bleu", "ROUGE_L"))
    # Case and punctuation are tokenised away, so each result equals one of its references.
    for name in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L"):
        assert scores[name] == pytest.approx(1.0, abs=1e-6), name
    assert "METEOR" not in scores  # not requested, so not reported unavailable either
    assert set(scores["unavailable"]) == {"PTBTokenizer"}


def test_only_result_images_are_scored(no_java):
    results = {1: "a dog on the grass", 3: "people on bikes"}
    with_extra = score_captions(REFERENCES, results, metrics=("Bleu", "ROUGE_L", "CIDEr"))
    exact = score_captions(
        {1: REFERENCES[1], 3: REFERENCES[3]}, results, metrics=("Bleu", "ROUGE_L", "CIDEr")
    )
    assert with_extra == exact
    assert 0.0 < with_extra["ROUGE_L"] < 1.0


@pytest.mark.parametrize(
    "caption, tokens",
    [
        ("A Dog's toy, (red).", "a dog 's toy -lrb- red -rrb-"),
        ("Don't stop; you cannot.", "do n't stop you can not"),
        ("St. Patrick's day on Morgan Rd.", "st. patrick 's day on morgan rd."),
        ("A clock reads 5:55, 1,000 people", "a clock reads 5:55 1,000 people"),
        ('A "U.S." flag -- black-and-white', "a u.s. flag black-and-white"),
        ("nine o'clock #25 & 2+ seats??", "nine o'clock # 25 & 2 + seats ??"),
        ("S. Pellegrino water", "s. pellegrino water"),
        ("", ""),
    ],
)
def test_python_ptb_tokenize(caption, tokens):
    assert python_ptb_tokenize(caption) == tokens


@needs_java
def test_python_tokenizer_agrees_with_java_ptb_tokenizer():
    captions = [
        "A dog's toy, (red).",
        "Don't stop; you cannot.",
        "A train on the track.Passengers wait.",
        "Street signs for Richmond St. and Prince St. posted on top.",
        "A clock that reads 5:55, is placed near the building. ",
        "A baseball game with Barry Bonds #25 at bat & fans.",
        "A t.v. on a refrigerator/freezer in the U.S.",
        "Travis d'Arnaud is at bat at 2 o'clock!!!",
    ]
    java_tokens = caption_scores._ptb_tokenize(dict(enumerate([text] for text in captions)))
    for index, text in enumerate(captions):
        assert python_ptb_tokenize(text) == java_tokens[index][0], text


@needs_java
def test_ptb_path_keeps_captions_aligned_across_line_breaks_and_blanks():
    references = {1: ["a dog runs"], 2: ["a red car"], 3: ["two people"]}
    # A line break inside a caption must not shift later captions; a blank caption last must not
    # be lost. Aligned: ROUGE_L 1, 1, 0 -> mean 2/3.
    results = {1: "a dog\nruns", 2: "a red\u2028car", 3: ""}
    scores = score_captions(references, results, metrics=("ROUGE_L",))
    assert scores == {"ROUGE_L": pytest.approx(2 / 3)}


@needs_java
def test_meteor_failure_raises_and_leaves_no_java_process():
    with pytest.raises(RuntimeError, match=r"METEOR \(java\) failed"):
        with caption_scores._meteor_scorer() as meteor:
            meteor.meteor_p.kill()  # java dies mid-run
            meteor.meteor_p.wait()
            meteor.compute_score({1: ["a dog"]}, {1: ["a dog"]})
    assert meteor.meteor_p.returncode is not None
    assert meteor.lock.acquire(timeout=1)  # pycocoevalcap's __del__ would otherwise block
    meteor.lock.release()


def test_result_without_references_is_an_error():
    with pytest.raises(CaptionDataError, match=r"1 result image id\(s\) have no reference.*\[9\]"):
        score_captions(REFERENCES, {1: "a dog", 9: "a cat"})


def test_string_versus_integer_ids_get_a_hint():
    message = r"image ids are \['int'\], the results' \['str'\]"
    with pytest.raises(CaptionDataError, match=message):
        score_captions(REFERENCES, {"1": "a dog"})


@pytest.mark.parametrize(
    "references, results, message",
    [
        (REFERENCES, {}, "no results"),
        (REFERENCES, {1: None}, "not a string"),
        ({1: []}, {1: "a dog"}, "non-empty list"),
        ({1: "a dog"}, {1: "a dog"}, "non-empty list"),
    ],
)
def test_bad_inputs_raise(references, results, message):
    with pytest.raises(CaptionDataError, match=message):
        score_captions(references, results)


def test_spice_and_unknown_metrics_are_refused():
    with pytest.raises(ValueError, match="SPICE is not supported"):
        score_captions(REFERENCES, {1: "a dog"}, metrics=("Bleu", "SPICE"))
    with pytest.raises(ValueError, match="unknown metric 'BLEU'"):
        score_captions(REFERENCES, {1: "a dog"}, metrics=("BLEU",))


def write_json(path, payload, compress=False):
    text = json.dumps(payload)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(text)
    else:
        path.write_text(text)
    return path


def coco_references(references: dict) -> dict:
    annotations = [
        {"id": len(caption) + image_id, "image_id": image_id, "caption": caption}
        for image_id, captions in references.items()
        for caption in captions
    ]
    return {"images": [{"id": image_id} for image_id in references], "annotations": annotations}


@pytest.mark.parametrize("compress", [False, True])
def test_load_references_and_results_round_trip(tmp_path, compress):
    suffix = ".json.gz" if compress else ".json"
    references_path = write_json(tmp_path / f"refs{suffix}", coco_references(REFERENCES), compress)
    results = [{"image_id": 2, "caption": "a car"}, {"image_id": 1, "caption": "a dog"}]
    results_path = write_json(tmp_path / f"res{suffix}", results, compress)
    assert load_references(references_path) == REFERENCES
    assert load_results(results_path) == {2: "a car", 1: "a dog"}


@pytest.mark.parametrize(
    "payload, message",
    [
        ([{"image_id": 1, "caption": "a"}], "not in COCO caption format"),
        ({"annotations": []}, "holds no caption annotations"),
        ({"annotations": [{"image_id": 1}]}, r"annotations\[0\] must be an object"),
        ({"annotations": [{"image_id": 1, "caption": 5}]}, "caption is not a string"),
        ({"annotations": [{"image_id": [1], "caption": "a"}]}, "image_id is not an id"),
    ],
)
def test_load_references_bad_files_name_the_file(tmp_path, payload, message):
    path = write_json(tmp_path / "refs.json", payload)
    with pytest.raises(CaptionDataError, match=message) as error:
        load_references(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"image_id": 1, "caption": "a"}, "not in COCO results format"),
        ([], "holds no results"),
        ([{"caption": "a"}], r"results\[0\] must be an object"),
        (
            [{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}],
            "image 1 has more than one caption",
        ),
    ],
)
def test_load_results_bad_files_name_the_file(tmp_path, payload, message):
    path = write_json(tmp_path / "results.json", payload)
    with pytest.raises(CaptionDataError, match=message) as error:
        load_results(path)
    assert str(path) in str(error.value)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(CaptionDataError, match="does not exist"):
        load_results(tmp_path / "absent.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("[{")
    with pytest.raises(CaptionDataError, match=f"{corrupt} is not readable JSON"):
        load_references(corrupt)


def run_cli(*args, env=None):
    return cli_runner.run("s_cnn_rnn.score_captions", *args, env=env, cwd=PROJECT_ROOT)


@needs_java
def test_reproduces_coco_caption_demo_scores_end_to_end(tmp_path, coco_eval_files):
    """The coco-caption demo's published scores, through the command (Java: METEOR and the PTB tokenizer;
    the only scoring of the demo with Java in the suite, ~16 CPU s)."""
    references_path, results_path, expected = coco_eval_files
    output = tmp_path / "scores" / "fakecap.json"
    completed = run_cli(
        f"--references={references_path}", f"--results={results_path}", f"--output={output}"
    )
    assert completed.returncode == 0, completed.stderr
    scores = json.loads(completed.stdout)  # stdout is exactly one JSON object
    assert list(scores) == [*caption_scores.SCORE_KEYS, "coverage"]  # no "unavailable" entry
    assert scores["coverage"]["scored_images"] == scores["coverage"]["reference_images"]
    assert_scores_match(scores, expected["scores"], expected["tolerance"])
    assert json.loads(output.read_text()) == scores
    assert [path.name for path in output.parent.iterdir()] == [output.name]  # no temp file left


def test_cli_without_java_reports_meteor_unavailable(tmp_path):
    references_path = write_json(tmp_path / "refs.json", coco_references(REFERENCES))
    results_path = write_json(tmp_path / "res.json", [{"image_id": 1, "caption": "A dog runs."}])
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = dict(os.environ, PATH=str(empty_bin))  # no java on PATH
    completed = run_cli(f"--references={references_path}", f"--results={results_path}", "--allow_partial", env=env)
    assert completed.returncode == 0, completed.stderr
    scores = json.loads(completed.stdout)
    assert scores["METEOR"] is None
    assert "java not found" in scores["unavailable"]["METEOR"]
    assert all(isinstance(scores[name], float) for name in ("Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr"))
    assert "METEOR" in completed.stderr  # the warning reaches the user too


def test_cli_bad_files_fail_with_the_file_named(tmp_path):
    references_path = write_json(tmp_path / "refs.json", coco_references(REFERENCES))
    duplicated = write_json(
        tmp_path / "dup.json", [{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]
    )
    completed = run_cli(f"--references={references_path}", f"--results={duplicated}")
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert f"results file {duplicated}: image 1 has more than one caption" in completed.stderr

    completed = run_cli(f"--references={tmp_path / 'absent.json'}", f"--results={duplicated}")
    assert completed.returncode == 2
    assert f"references file {tmp_path / 'absent.json'} does not exist" in completed.stderr
