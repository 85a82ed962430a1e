"""Nothing a user does by mistake loses data: converter and export outputs, split names, staging dirs."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

import serving_fixtures
from data_prep import convert_lib
from data_prep import staging
from data_prep.sources.base import AnnotationError
from s_cnn_rnn import output_guard
from s_cnn_rnn.serving import export_lib
from test_convert import _jpeg_bytes
from tests import cli_runner

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _env() -> dict:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PROJECT_ROOT))


@pytest.fixture
def raw(tmp_path) -> pathlib.Path:
    """raw/captions.json and raw/images/ with four images, as a user downloads them."""
    folder = tmp_path / "raw"
    (folder / "images").mkdir(parents=True)
    for image_id in range(1, 5):
        (folder / "images" / f"{image_id}.jpg").write_bytes(_jpeg_bytes(image_id))
    captions = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(1, 5)],
                "annotations": [{"id": i, "image_id": i, "caption": f"a dog number {i}"} for i in range(1, 5)]}
    (folder / "captions.json").write_text(json.dumps(captions))
    return folder


def _raw_files(folder: pathlib.Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def _options(raw_dir: pathlib.Path, output_dir, **kwargs) -> convert_lib.ConvertOptions:
    options = convert_lib.ConvertOptions(
        dataset="coco_captions", output_dir=str(output_dir), captions_json=[str(raw_dir / "captions.json")],
        image_dirs=[str(raw_dir / "images")], num_workers=0, show_progress=False, num_concepts=3,
    )
    for key, value in kwargs.items():
        setattr(options, key, value)
    return options


def test_convert_cli_with_output_dir_raw_and_overwrite_keeps_the_raw_data(raw):
    """The issue's reproduction: today it converts, then deletes raw/ (rc 0)."""
    before = _raw_files(raw)
    completed = cli_runner.run("data_prep.convert", "--dataset=coco_captions", "--captions_json=raw/captions.json",
                               "--image_dir=raw/images", "--output_dir=raw", "--overwrite", "--num_workers=0",
                               "--noprogress", cwd=raw.parent)
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "--output_dir=raw contains the input --image_dir=raw/images" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert _raw_files(raw) == before
    assert sorted(os.listdir(raw.parent)) == ["raw"]  # no staging dir either


@pytest.mark.parametrize("output,relation", [
    ("raw/images", "is the input --image_dir"),
    ("raw/images/converted", "lies inside the input --image_dir"),
    ("raw/captions.json", "is the input --captions_json"),
    ("ids", "contains the input --splits"),
])
def test_convert_refuses_an_output_that_is_contains_or_lies_inside_an_input(raw, output, relation):
    (raw.parent / "ids").mkdir()
    (raw.parent / "ids" / "val.txt").write_text("1\n")
    before = _raw_files(raw.parent)
    for overwrite in (False, True):
        options = _options(raw, raw.parent / output, overwrite=overwrite, splits=f"val:{raw.parent / 'ids/val.txt'}")
        with pytest.raises(convert_lib.ConversionError, match=relation):
            convert_lib.convert(options)
    assert _raw_files(raw.parent) == before


def test_overwrite_replaces_only_our_own_data_dir(raw, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(convert_lib.ConversionError, match=r"a folder of 1 entries such as 'holiday.jpg'.*even with"):
        convert_lib.convert(_options(raw, photos, overwrite=True))
    assert (photos / "holiday.jpg").read_bytes() == b"precious"

    out = tmp_path / "out"
    convert_lib.convert(_options(raw, out))
    with pytest.raises(convert_lib.ConversionError, match="already exists .a converted data dir.; pass --overwrite"):
        convert_lib.convert(_options(raw, out))
    (out / "notes.txt").write_text("mine")  # the user's file inside our output: not ours to delete
    with pytest.raises(convert_lib.ConversionError, match="'notes.txt'"):
        convert_lib.convert(_options(raw, out, overwrite=True))
    os.remove(out / "notes.txt")
    assert convert_lib.convert(_options(raw, out, overwrite=True))["splits"]["train"]["num_examples"] == 4


def test_guard_recognises_what_it_refuses(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model_config.json").write_text("{}")
    with pytest.raises(output_guard.UnsafeOutputError, match="is a model dir .it has model_config.json., not a "
                                                             "SavedModel export"):
        output_guard.check_output_dir(str(model_dir), [], output_guard.EXPORT_DIR, overwrite=True)
    output_guard.check_output_dir(str(tmp_path / "new"), [], output_guard.EXPORT_DIR, overwrite=False)


@pytest.fixture(scope="module")
def logistic_model_dir(tiny_synthetic_data, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("guard_model")
    return serving_fixtures.make_model_dir(tiny_synthetic_data, str(folder / "model"), "multilabel",
                                           variant="cnn_logistic")


def _checkpoint_files(model_dir) -> list[str]:
    return sorted(str(path) for path in pathlib.Path(model_dir).rglob("*") if path.is_file())


def test_export_cli_into_the_model_dir_with_overwrite_keeps_the_checkpoints(logistic_model_dir):
    """The issue's reproduction: today the export replaces M and the checkpoints are gone."""
    before = _checkpoint_files(logistic_model_dir)
    completed = cli_runner.run("s_cnn_rnn.export", f"--model_dir={logistic_model_dir}",
                               f"--export_dir={logistic_model_dir}", "--overwrite", cwd=PROJECT_ROOT)
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert f"is the input --model_dir={logistic_model_dir}" in completed.stderr
    assert _checkpoint_files(logistic_model_dir) == before


def test_export_refuses_the_model_dirs_inside_and_parent_and_foreign_dirs(logistic_model_dir, tmp_path):
    before = _checkpoint_files(logistic_model_dir)
    for export_dir, match in ((os.path.join(logistic_model_dir, "export", "1"), "lies inside the input"),
                              (os.path.dirname(logistic_model_dir), "contains the input")):
        with pytest.raises(export_lib.ExportDirExistsError, match=match):
            export_lib.export_saved_model(logistic_model_dir, export_dir, overwrite=True)
    assert _checkpoint_files(logistic_model_dir) == before
    export_dir = tmp_path / "export"
    export_lib.export_saved_model(logistic_model_dir, str(export_dir))
    export_lib.export_saved_model(logistic_model_dir, str(export_dir), overwrite=True)  # ours: replaced
    (export_dir / "README.txt").write_text("mine")
    with pytest.raises(export_lib.ExportDirExistsError, match="'README.txt'"):
        export_lib.export_saved_model(logistic_model_dir, str(export_dir), overwrite=True)


# ----------------------------------------------------------------------------- split names


def test_split_names_are_kept_exactly_and_never_merged(raw, tmp_path):
    (tmp_path / "holdout.txt").write_text("1\n")
    (tmp_path / "kval.txt").write_text("2\n3\n")
    splits = f"train-holdout:{tmp_path / 'holdout.txt'},karpathy-val:{tmp_path / 'kval.txt'}"
    manifest = convert_lib.convert(_options(raw, tmp_path / "out", splits=splits))
    counts = {name: info["num_examples"] for name, info in manifest["splits"].items()}
    assert counts == {"train": 1, "train-holdout": 1, "karpathy-val": 2}
    assert manifest["split_files"] == [
        {"split": "train-holdout", "file": str(tmp_path / "holdout.txt"), "listed": 1, "found": 1},
        {"split": "karpathy-val", "file": str(tmp_path / "kval.txt"), "listed": 2, "found": 2},
    ]
    assert not manifest["warnings"]


@pytest.mark.parametrize("name", ["a/b", "val.1", "..", "tëst"])
def test_split_names_outside_the_safe_set_are_refused(raw, tmp_path, name):
    (tmp_path / "ids.txt").write_text("1\n")
    with pytest.raises(AnnotationError, match="may use only letters, digits"):
        convert_lib.convert(_options(raw, tmp_path / "out", splits=f"{name}:{tmp_path / 'ids.txt'}"))
    assert not (tmp_path / "out").exists()


def test_split_file_matching_no_image_is_an_error_and_partly_a_warning(raw, tmp_path):
    (tmp_path / "wrong.txt").write_text("100\n200\n")
    with pytest.raises(AnnotationError, match=r"wrong.txt: none of its 2 ids \(split 'val'\)"):
        convert_lib.convert(_options(raw, tmp_path / "out", splits=f"val:{tmp_path / 'wrong.txt'}"))
    (tmp_path / "some.txt").write_text("1\n100\n200\n")
    manifest = convert_lib.convert(_options(raw, tmp_path / "out", splits=f"val:{tmp_path / 'some.txt'}"))
    assert manifest["split_files"][0]["found"] == 1 and manifest["split_files"][0]["listed"] == 3
    assert manifest["warnings"] == [f"--splits val:{tmp_path / 'some.txt'}: only 1 of its 3 ids are images of "
                                    "the dataset; the others were ignored"]
    assert "--splits val: 1 of 3 ids found; 1 warning(s)" in convert_lib.summary_line(manifest)


# ----------------------------------------------------------------------------- staging dirs


def test_sigterm_mid_conversion_removes_the_staging_dir(tmp_path):
    output_dir = tmp_path / "synth"
    command = [sys.executable, "-m", "data_prep.convert", "--dataset=synthetic", f"--output_dir={output_dir}",
               "--synthetic_num_train=600", "--synthetic_num_val=8", "--synthetic_num_test=8",
               # One worker: it imports TensorFlow (~6 CPU s) before it writes; a second proves nothing more.
               "--synthetic_image_size=32", "--num_workers=1", "--examples_per_shard=50", "--noprogress"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    staging_dir = tmp_path / f"synth.tmp-{process.pid}"
    deadline = time.monotonic() + 240
    # Mid-conversion: the shard workers have started writing.
    while not (staging_dir.is_dir() and any(name.endswith(".tfrecord") for name in os.listdir(staging_dir))):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    time.sleep(1.0)  # no worker writes on after the parent is gone
    assert sorted(os.listdir(tmp_path)) == [], stderr[-2000:]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_rerun_removes_staging_dirs_of_dead_runs_only(raw, tmp_path):
    out = str(tmp_path / "out")
    dead = pathlib.Path(staging.staging_path(out, _dead_pid()))
    dead.mkdir()
    (dead / staging.MARKER_FILE).write_text("{}")
    (dead / "train-00000-of-00001.tfrecord").write_bytes(b"x" * 1000)
    unmarked = pathlib.Path(staging.staging_path(out, _dead_pid()))
    unmarked.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = pathlib.Path(staging.staging_path(out, sleeper.pid))
        alive.mkdir()
        (alive / staging.MARKER_FILE).write_text("{}")
        messages = staging.remove_stale(out)
        assert not dead.exists() and unmarked.is_dir() and alive.is_dir()
        assert any(f"removed {dead}" in message for message in messages)
        assert any(f"left {unmarked} alone" in message for message in messages)
        assert any(f"{alive} belongs to a conversion still running (pid {sleeper.pid})" in m for m in messages)
    finally:
        sleeper.kill()
        sleeper.wait()
    later_dead = pathlib.Path(staging.staging_path(out, _dead_pid()))
    later_dead.mkdir()
    (later_dead / staging.MARKER_FILE).write_text("{}")
    convert_lib.convert(_options(raw, out))  # the converter runs the same clean-up first
    assert not later_dead.exists() and not alive.exists()  # the sleeper is gone now too
    assert unmarked.is_dir()
    assert not (pathlib.Path(out) / staging.MARKER_FILE).exists()  # the marker is never published
