"""Shared pytest fixtures."""

import contextlib
import fcntl
import os
import pathlib

import pytest

# Keep TensorFlow quiet and single-machine friendly in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist (`-n auto`) every worker is a process whose TF would size its op pool to all the cores:
# give each its share instead (inherited by the commands the tests start), so workers do not oversubscribe.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The files that take longest (wall seconds on 2 cores, measured: BUILD_NOTES.md "Test suite") are
# collected first, longest first: pytest-xdist's --dist loadfile then hands them to the workers at once,
# instead of one of them finishing the run alone while the other waits.
COSTLIEST_FIRST = ("test_reproduce_end_to_end.py", "test_paper_rows.py", "test_training_processes.py",
                   "test_training.py", "test_export.py", "test_demo.py", "test_training_guards.py",
                   "test_decoded_validation.py", "test_efficiency.py", "test_pretrain_backbone.py",
                   "test_real_captions.py", "test_output_safety.py")
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


def pytest_configure(config):
    # pytest-xdist (3.6 on) hands files out by their number of tests, most first, unless told not to
    # (--no-loadscope-reorder): keep the collection order above instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    missing = [name for name in COSTLIEST_FIRST if not (PROJECT_ROOT / "tests" / name).is_file()]
    assert not missing, f"tests/conftest.py COSTLIEST_FIRST names no test file {missing}"
    rank = {name: index for index, name in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture
def shared_data_dir() -> pathlib.Path:
    """The read-only real data beside the project (`../shared/data`); skips when absent."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(
            f"real data not found at {SHARED_DATA_DIR}: place the shared/ folder beside the "
            "project checkout to run this test"
        )
    return SHARED_DATA_DIR


def _made_once(tmp_path_factory, name: str, make) -> str:
    """`make(path)`'s output, made once per test run: under pytest-xdist the workers share one copy (the
    first to take the lock makes it, the others wait and reuse it), so a session fixture is not paid for
    once per worker. Returns the path (str)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, shared by its workers (each has its own basetemp below it)
    path = base / name
    with open(base / f"{name}.lock", "w", encoding="utf-8") as lock, contextlib.ExitStack() as unlock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        unlock.callback(fcntl.flock, lock, fcntl.LOCK_UN)
        done = base / f"{name}.done"
        if not done.exists():
            make(path)
            done.write_text("")
    return str(path)


def _convert_tiny_synthetic(output_dir: pathlib.Path) -> None:
    from data_prep import convert_lib  # pylint: disable=import-outside-toplevel

    convert_lib.convert(
        convert_lib.ConvertOptions(
            dataset="synthetic",
            output_dir=str(output_dir),
            synthetic_num_train=48, synthetic_num_val=8, synthetic_num_test=8,
            synthetic_image_size=32,
            num_concepts=40,
            num_workers=0,
            show_progress=False,
        )
    )


@pytest.fixture(scope="session")
def tiny_synthetic_data(tmp_path_factory) -> str:
    """A converted built-in dataset small enough for training tests (64 images of 32 px). Read-only."""
    return _made_once(tmp_path_factory, "tiny_synthetic_data", _convert_tiny_synthetic)


def _train_tiny_model(data_dir: str, model_dir: str, task: str) -> str:
    """Trains every stage of a tiny S-CNN-RNN for two steps (weights are not meaningful)."""
    from s_cnn_rnn.models.config import ModelConfig  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.training import stage_runner, trainer  # pylint: disable=import-outside-toplevel

    model = ModelConfig(
        variant="s_cnn_rnn", backbone="small_cnn", backbone_weights="none", image_size=32,
        num_concepts=1, vocab_size=4, embedding_dim=16, lstm_units=16, small_cnn_width=8,
        lstm_activation="relu" if task == "multilabel" else "tanh",
    )
    settings = {
        stage: trainer.StageSettings(stage=stage, train_steps=2, batch_size=4, learning_rate=1e-3,
                                     optimizer="adam", log_every=1, validate_every=0)
        for stage in ("cnn", "rnn", "joint")
    }
    stage_runner.train(stage_runner.TrainOptions(stage="all", data_dir=data_dir, model_dir=model_dir,
                                               task=task, model=model, stage_settings=settings))
    return model_dir


@pytest.fixture(scope="session")
def tiny_caption_model_dir(tiny_synthetic_data, tmp_path_factory) -> str:
    """A model dir of a tiny captioning S-CNN-RNN trained for a few steps on `tiny_synthetic_data`. Read-only."""
    return _made_once(tmp_path_factory, "caption_model",
                      lambda path: _train_tiny_model(tiny_synthetic_data, str(path), "caption"))


@pytest.fixture(scope="session")
def tiny_multilabel_model_dir(tiny_synthetic_data, tmp_path_factory) -> str:
    """A model dir of a tiny multi-label S-CNN-RNN trained for a few steps on `tiny_synthetic_data`. Read-only."""
    return _made_once(tmp_path_factory, "label_model",
                      lambda path: _train_tiny_model(tiny_synthetic_data, str(path), "multilabel"))
