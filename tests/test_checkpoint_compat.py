"""Checkpoint compatibility: model dirs trained by an old version still evaluate, predict and export.

`tests/fixtures/checkpoints_v1/` holds a tiny caption and a tiny multi-label model dir trained
with the code of one commit (see its README.md), a test-split copy of the data they were trained
on, three JPEGs, and `expected.json`: what `s-cnn-rnn-evaluate`, `s-cnn-rnn-predict` and the
SavedModel of `s-cnn-rnn-export` gave on them with that commit. This test runs today's
commands on a copy of the fixture and asserts the same outputs: a refactor that renames a
variable, moves a layer or changes the model dir layout fails here instead of in a user's hands
(im2txt users lost their checkpoints to such a rename). The fixture is never regenerated; a
format change comes with a converter and a new `checkpoints_vN/` fixture beside this one.

Everything runs as a user would: the real commands by module name, as `python -m` runs them
(tests/cli_runner.py, in this process; cwd at the project root), the SavedModel loaded with
TensorFlow alone. This file imports nothing of the project, so it keeps working whatever moves
inside it.
`tests/fixtures/make_checkpoint_fixtures.py` recorded `expected.json` with the functions below.
"""

import json
import math
import os
import pathlib
import shutil

import pytest

from tests import cli_runner

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

# ----------------------------------------------------------------------------- running the commands


def _environment(work_dir: pathlib.Path) -> dict:
    """The commands' environment, with Java hidden: caption metrics then use the Python PTB tokenizer
    and report METEOR as unavailable, which is fast and the same on every machine."""
    no_java = work_dir / "no_java_bin"
    no_java.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=str(no_java))
    env.pop("JAVA_HOME", None)
    return env


def _run_all(commands: dict, env: dict) -> dict:
    """Runs {name: [module, args...]} one after another as `python -m` runs them, in this process
    (tests/cli_runner.py: each command's own entry point and flags, one TensorFlow start-up for all);
    asserts each exits 0 and returns {name: its stdout}."""
    outputs, failures = {}, []
    for name, (module, *args) in commands.items():
        completed = cli_runner.run(module, *args, env=env, cwd=PROJECT_ROOT)
        outputs[name] = completed.stdout
        if completed.returncode != 0:
            failures.append(f"{name} exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    assert not failures, "\n\n".join(failures)
    return outputs


def copy_fixture(destination: pathlib.Path, source: pathlib.Path = FIXTURE_DIR) -> pathlib.Path:
    """A writable copy of the fixture (the committed files are inputs, never outputs)."""
    shutil.copytree(source, destination)
    return destination


def image_paths(fixture: pathlib.Path) -> list[str]:
    return sorted(str(path) for path in (fixture / "images").glob("*.jpg"))


def _evaluation(output_dir: pathlib.Path, task: str) -> dict:
    """The model's part of `s-cnn-rnn-evaluate`'s outputs: {"metrics": ..., "predictions": [...]}."""
    summary = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    with open(output_dir / "predictions.jsonl", encoding="utf-8") as handle:
        predictions = [json.loads(line) for line in handle]
    metrics = summary["metrics_by_convention"] if task == "multilabel" else summary["metrics"]
    fields = EVALUATION_FIELDS[task]
    return {"metrics": metrics, "predictions": [{key: entry[key] for key in fields} for entry in predictions]}


def _predictions(stdout: str) -> list:
    """`s-cnn-rnn-predict --json` lines; each entry's "image" reduced to the file name."""
    entries = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [dict(entry, image=os.path.basename(entry["image"])) for entry in entries]


def _plain(value):
    """A SavedModel output (`.tolist()`) as JSON: bytes decoded, an unfinished beam's -inf as None."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _serve(export_dir: pathlib.Path, images: list[str]) -> dict:
    """The SavedModel's `serving_default` on JPEG bytes (TensorFlow only, nothing of the project)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    encoded = [pathlib.Path(path).read_bytes() for path in images]
    outputs = serve(image_bytes=tf.constant(encoded))
    return {key: _plain(value.numpy().tolist()) for key, value in sorted(outputs.items())}


def run_commands(fixture: pathlib.Path, work_dir: pathlib.Path) -> dict:
    """`s-cnn-rnn-evaluate` (test split), `s-cnn-rnn-predict --json` (the fixture's JPEGs) and
    `s-cnn-rnn-export` on each model dir of the fixture, then the exports' `serving_default` on the
    JPEG bytes.

    Returns:
      {"evaluate": {task: {"metrics", "predictions"}}, "predict": {task: [entry per image]},
      "serving_default": {task: {output name: nested lists}}}: what expected.json records.
    """
    commands = {}
    for task in TASKS:
        model_dir = fixture / f"{task}_model"
        commands[f"evaluate_{task}"] = [
            "s_cnn_rnn.evaluate", f"--model_dir={model_dir}", f"--data_dir={fixture / 'data'}",
            "--split=test", f"--output_dir={work_dir / ('eval_' + task)}", "--batch_size=8", "--noprogress"]
        commands[f"predict_{task}"] = ["s_cnn_rnn.predict", f"--model_dir={model_dir}", "--json",
                                       *image_paths(fixture)]
        commands[f"export_{task}"] = ["s_cnn_rnn.export", f"--model_dir={model_dir}",
                                      f"--export_dir={work_dir / ('export_' + task)}"]
    stdout = _run_all(commands, _environment(work_dir))
    return {
        "evaluate": {task: _evaluation(work_dir / f"eval_{task}", task) for task in TASKS},
        "predict": {task: _predictions(stdout[f"predict_{task}"]) for task in TASKS},
        "serving_default": {task: _serve(work_dir / f"export_{task}", image_paths(fixture)) for task in TASKS},
    }


# ----------------------------------------------------------------------------- comparing


# Lists that later versions lengthened on purpose: the recorded items must lead the new list.
# predictions.jsonl's caption "concepts"/"concept_scores" went from the top 3 to the top 20 (the
# report lists the most probable non-function words among them).
PREFIX_LISTS = (".concepts", ".concept_scores")


def assert_matches(actual, expected, where: str = "") -> None:
    """Recorded `expected` vs `actual`: floats within TOLERANCE, everything else (strings, ints,
    None, list lengths) exactly; a dict may hold more keys than were recorded, a list named in
    PREFIX_LISTS more items."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a dict, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing {key!r} (has {sorted(actual)})"
            assert_matches(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        if where.endswith(PREFIX_LISTS) and isinstance(actual, list):
            actual = actual[:len(expected)]
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


@pytest.fixture(scope="module")
def actual(fixture, tmp_path_factory) -> dict:
    """Today's commands on the fixture (all six at once: see `run_commands`)."""
    return run_commands(fixture, tmp_path_factory.mktemp("runs"))


def test_fixture_is_self_contained_and_small():
    """Nothing outside the repository, no symlinks, well under 1 MB."""
    files = [path for path in FIXTURE_DIR.rglob("*") if path.is_file() or path.is_symlink()]
    assert not [path for path in files if path.is_symlink()]
    assert sum(path.stat().st_size for path in files) < 1_000_000
    assert len(image_paths(FIXTURE_DIR)) == 3


@pytest.mark.parametrize("command", ["evaluate", "predict", "serving_default"])
@pytest.mark.parametrize("task", TASKS)
def test_commands_give_the_recorded_outputs(actual, expected, command, task):
    assert_matches(actual[command][task], expected[command][task], f"{command}[{task}]")
