"""Checkpoint compatibility: model dirs trained by an old version still evaluate, predict and export.

`tests/fixtures/checkpoints_v1/` holds a tiny caption and a tiny multi-label model dir trained
with the code of one commit (see its README.md), a test-split copy of the data they were trained
on, three JPEGs, and `expected.json`: what `s-cnn-rnn-evaluate`, `s-cnn-rnn-predict` and the
SavedModel of `s-cnn-rnn-export` gave on them with that commit. This test runs today's
commands on a copy of the fixture and asserts the same outputs: a refactor that renames a
variable, moves a layer or changes the model dir layout fails here instead of in a user's hands
(im2txt users lost their checkpoints to such a rename). The fixture is never regenerated; a
format change comes with a converter and a new `checkpoints_vN/` fixture beside this one.

Everything runs as a user would: real commands in subprocesses (cwd at the project root), the
SavedModel in an isolated interpreter that imports only TensorFlow. This file imports nothing
of the project, so it keeps working whatever moves inside it.
`tests/fixtures/make_checkpoint_fixtures.py` recorded `expected.json` with the functions below.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE_DIR = PROJECT_ROOT / "tests" / "fixtures" / "checkpoints_v1"
EXPECTED_FILE = "expected.json"
TASKS = ("caption", "multilabel")
# Run-to-run the outputs are bit-identical on one machine; other CPUs (oneDNN kernels, FMA)
# may differ in the last float bits. Decoded labels and captions must be exactly equal.
TOLERANCE = 1e-4
# The fields of predictions.jsonl that come from the model (references, ground truth and the
# like come from the data and are not what this test is about).
EVALUATION_FIELDS = {
    "caption": ("image_id", "caption", "log_prob", "beams", "concepts", "concept_scores"),
    "multilabel": ("image_id", "labels", "scores", "concept_labels", "concept_scores"),
}

# Runs in an isolated interpreter (-I: no cwd, no PYTHONPATH, so nothing of the project is
# importable). argv: request.json ({task: {"export_dir", "images"}}), results.json.
SERVE_SCRIPT = r"""
import json, math, sys
import tensorflow as tf

def plain(value):
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return None  # an unfinished beam's -inf: JSON has no infinity
    return value

request = json.load(open(sys.argv[1]))
results = {}
for task, job in request.items():
    serve = tf.saved_model.load(job["export_dir"]).signatures["serving_default"]
    images = [open(path, "rb").read() for path in job["images"]]
    outputs = serve(image_bytes=tf.constant(images))
    results[task] = {key: plain(value.numpy().tolist()) for key, value in sorted(outputs.items())}
json.dump(results, open(sys.argv[2], "w"))
"""


# ----------------------------------------------------------------------------- running the commands


def _environment(tmp_dir: pathlib.Path) -> dict:
    """The commands' environment, with Java hidden: caption metrics then use the Python PTB tokenizer
    and report METEOR as unavailable, which is fast and the same on every machine."""
    no_java = tmp_dir / "no_java_bin"
    no_java.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=str(no_java))
    env.pop("JAVA_HOME", None)
    return env


def _run(args: list, env: dict) -> subprocess.CompletedProcess:
    completed = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                               timeout=600, check=False)
    assert completed.returncode == 0, f"{' '.join(map(str, args[:3]))} failed:\n{completed.stderr[-4000:]}"
    return completed


def copy_fixture(destination: pathlib.Path, source: pathlib.Path = FIXTURE_DIR) -> pathlib.Path:
    """A writable copy of the fixture (the committed files are inputs, never outputs)."""
    shutil.copytree(source, destination)
    return destination


def image_paths(fixture: pathlib.Path) -> list[str]:
    return sorted(str(path) for path in (fixture / "images").glob("*.jpg"))


def evaluate_outputs(fixture: pathlib.Path, task: str, work_dir: pathlib.Path) -> dict:
    """`s-cnn-rnn-evaluate` on the fixture's test split: {"metrics": ..., "predictions": [...]}."""
    output_dir = work_dir / f"eval_{task}"
    _run(["-m", "s_cnn_rnn.evaluate", f"--model_dir={fixture / (task + '_model')}", f"--data_dir={fixture / 'data'}",
          "--split=test", f"--output_dir={output_dir}", "--batch_size=8", "--noprogress"], _environment(work_dir))
    summary = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    with open(output_dir / "predictions.jsonl", encoding="utf-8") as handle:
        predictions = [json.loads(line) for line in handle]
    metrics = summary["metrics_by_convention"] if task == "multilabel" else summary["metrics"]
    fields = EVALUATION_FIELDS[task]
    return {"metrics": metrics, "predictions": [{key: entry[key] for key in fields} for entry in predictions]}


def predict_outputs(fixture: pathlib.Path, task: str, work_dir: pathlib.Path) -> list:
    """`s-cnn-rnn-predict --json` on the fixture's JPEGs; each entry's "image" is the file name."""
    completed = _run(["-m", "s_cnn_rnn.predict", f"--model_dir={fixture / (task + '_model')}", "--json",
                      *image_paths(fixture)], _environment(work_dir))
    entries = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return [dict(entry, image=os.path.basename(entry["image"])) for entry in entries]


def export_and_serve_outputs(fixture: pathlib.Path, work_dir: pathlib.Path) -> dict:
    """Each model exported by `s-cnn-rnn-export`, then its `serving_default` on the fixture's JPEG
    bytes in an interpreter that imports only TensorFlow: {task: {output name: nested lists}}."""
    env = _environment(work_dir)
    request = {}
    for task in TASKS:
        export_dir = work_dir / f"export_{task}"
        _run(["-m", "s_cnn_rnn.export", f"--model_dir={fixture / (task + '_model')}", f"--export_dir={export_dir}"],
             env)
        request[task] = {"export_dir": str(export_dir), "images": image_paths(fixture)}
    request_file, results_file = work_dir / "serve_request.json", work_dir / "serve_results.json"
    request_file.write_text(json.dumps(request), encoding="utf-8")
    _run(["-I", "-c", SERVE_SCRIPT, str(request_file), str(results_file)], env)
    return json.loads(results_file.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- comparing


def assert_matches(actual, expected, where: str = "") -> None:
    """Recorded `expected` vs `actual`: floats within TOLERANCE, everything else (strings, ints,
    None, list lengths) exactly; a dict may hold more keys than were recorded."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a dict, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} (has {sorted(actual)})"
            assert_matches(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{where}: expected {len(expected)} items {expected!r}, got {actual!r}")
        for index, (item, value) in enumerate(zip(actual, expected)):
            assert_matches(item, value, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert isinstance(actual, (int, float)) and abs(actual - expected) <= TOLERANCE, (
            f"{where}: expected {expected!r} (+-{TOLERANCE}), got {actual!r}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


# ----------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def fixture(tmp_path_factory) -> pathlib.Path:
    if not (FIXTURE_DIR / EXPECTED_FILE).is_file():
        pytest.fail(f"{FIXTURE_DIR / EXPECTED_FILE} is missing: the committed checkpoint fixture is incomplete")
    return copy_fixture(tmp_path_factory.mktemp("checkpoints") / FIXTURE_DIR.name)


@pytest.fixture(scope="module")
def expected(fixture) -> dict:
    return json.loads((fixture / EXPECTED_FILE).read_text(encoding="utf-8"))


def test_fixture_is_self_contained_and_small():
    """Nothing outside the repository, no symlinks, well under 1 MB."""
    files = [path for path in FIXTURE_DIR.rglob("*") if path.is_file() or path.is_symlink()]
    assert not [path for path in files if path.is_symlink()]
    assert sum(path.stat().st_size for path in files) < 1_000_000
    assert len(image_paths(FIXTURE_DIR)) == 3


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_gives_the_recorded_outputs(fixture, expected, task, tmp_path):
    actual = evaluate_outputs(fixture, task, tmp_path)
    assert_matches(actual, expected["evaluate"][task], f"evaluate[{task}]")


@pytest.mark.parametrize("task", TASKS)
def test_predict_gives_the_recorded_outputs(fixture, expected, task, tmp_path):
    actual = predict_outputs(fixture, task, tmp_path)
    assert_matches(actual, expected["predict"][task], f"predict[{task}]")


def test_exported_saved_model_gives_the_recorded_outputs(fixture, expected, tmp_path):
    actual = export_and_serve_outputs(fixture, tmp_path)
    for task in TASKS:
        assert_matches(actual[task], expected["serving_default"][task], f"serving_default[{task}]")
