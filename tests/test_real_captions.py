"""bench/real_captions.py: the relational model alone on real COCO captions, end to end on a slice.

The end-to-end test runs the script as its users do (`python bench/real_captions.py`, in this process
through tests/cli_runner.py; it runs `python -m s_cnn_rnn.train` and `python -m s_cnn_rnn.score_captions`
as subprocesses) on 300 train, 20 val and 20 test images with a 64-unit decoder, with Java hidden
(METEOR n/a, the Python PTB tokenizer: the Java path is test_caption_scores.py's), then checks the
files it wrote and that its training helped: the trained decoder's CIDEr is above the untrained one's
(the untrained decoder emits random words and scores ~0; 150 steps at lr 1e-2 give ~0.1).
"""

import gzip
import importlib.util
import json
import os
import pathlib

import pytest

from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = PROJECT_ROOT / "bench" / "real_captions.py"
SCORE_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def _bench_module():
    spec = importlib.util.spec_from_file_location("real_captions_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench_module()


def _write_ids(path: pathlib.Path, ids) -> str:
    path.write_text("".join(f"{i}\n" for i in ids))
    return str(path)


def test_select_images_reads_gz_limits_each_split_and_keeps_all_references(bench, tmp_path):
    images = [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in range(1, 11)]
    annotations = [{"id": 100 * i + n, "image_id": i, "caption": f"caption {n} of image {i}"}
                   for i in range(1, 11) for n in range(5)]
    source = tmp_path / "captions.json.gz"
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        json.dump({"images": images[::-1], "annotations": annotations}, handle)
    val_ids = _write_ids(tmp_path / "val.txt", [2, 4])
    test_ids = _write_ids(tmp_path / "test.txt", [9, 7, 5])
    work_dir = tmp_path / "work"
    work_dir.mkdir()

    selection = bench.select_images(str(source), val_ids, test_ids, str(work_dir), max_train=3, max_test=2)

    assert selection.counts == {"train": 3, "val": 2, "test": 2}
    assert sorted(selection.test_references) == [5, 7]  # the first test ids in id order
    assert selection.test_references[7] == [f"caption {n} of image 7" for n in range(5)]
    written = json.loads(pathlib.Path(selection.captions_json).read_text())  # plain JSON for the reader
    assert sorted(image["id"] for image in written["images"]) == [1, 2, 3, 4, 5, 6, 7]
    assert {a["image_id"] for a in written["annotations"]} == {1, 2, 3, 4, 5, 6, 7}
    assert len(written["annotations"]) == 35


def test_same_scores_compares_every_metric(bench):
    scores = {key: 0.5 for key in SCORE_KEYS}
    assert bench.same_scores(scores, dict(scores, unavailable={}))
    assert not bench.same_scores(scores, dict(scores, CIDEr=0.5001))
    assert not bench.same_scores(scores, dict(scores, METEOR=None))
    assert bench.same_scores(dict(scores, METEOR=None), dict(scores, METEOR=None))


def test_tiny_real_run_end_to_end(bench, shared_data_dir, tmp_path):
    from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

    work_dir = tmp_path / "work"
    no_java = tmp_path / "no_java_bin"
    no_java.mkdir()
    env = dict(os.environ, PATH=str(no_java))  # the script starts its commands with sys.executable
    env.pop("JAVA_HOME", None)
    command = [
        str(SCRIPT), f"--work_dir={work_dir}",
        f"--captions_json={shared_data_dir / 'coco_captions' / 'captions_val2014_reconstructed.json.gz'}",
        "--max_train_images=300", "--max_val_images=20", "--max_test_images=20", "--train_steps=150",
        "--batch_size=32", "--min_word_count=1", "--decode_batch_size=20",
        "--train_flag=--embedding_dim=64", "--train_flag=--lstm_units=64",
        "--train_flag=--rnn_learning_rate=1e-2", "--train_flag=--log_every=50",
    ]
    completed = cli_runner.run(*command, env=env, cwd=PROJECT_ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])

    assert summary["images"] == {"train": 300, "val": 20, "test": 20}
    assert summary["train_steps"] == 150 and summary["final_train_record"]["step"] == 150
    assert summary["batch_size"] == 32
    for key in SCORE_KEYS:
        value = summary["scores"][key]
        assert value is None and key in summary["unavailable"] or 0.0 <= value <= 10.0, (key, value)
    assert summary["cli_scores_match"] is True  # the CLI re-scored the written files identically
    assert "CIDEr" in completed.stdout and "1.054" in completed.stdout  # the table beside the paper

    references = caption_scores.load_references(summary["files"]["references"])
    results = caption_scores.load_results(summary["files"]["results"])
    assert len(results) == 20 and set(results) == set(references)
    assert all(len(captions) >= 5 for captions in references.values())
    assert all(caption.strip() for caption in results.values())

    # The results file is what the trained decoder gives; an untrained decoder scores lower.
    data_dir, model_dir = str(work_dir / "data"), str(work_dir / "model")
    decoder = bench.ConceptDecoder(model_dir, beam_width=3, max_length=20, batch_size=20)
    decoder.build()
    untrained = decoder.decode_split(data_dir, "test")
    decoder.restore_latest()
    assert decoder.decode_split(data_dir, "test") == results
    untrained_cider = caption_scores.score_captions(references, untrained, metrics=("CIDEr",))["CIDEr"]
    assert summary["scores"]["CIDEr"] > untrained_cider + 0.02, (summary["scores"]["CIDEr"], untrained_cider)
