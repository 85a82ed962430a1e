"""Shared pytest fixtures."""

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
SHARED_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data_dir() -> pathlib.Path:
    """The read-only real data beside the project (`../shared/data`); skips when absent."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(
            f"real data not found at {SHARED_DATA_DIR}: place the shared/ folder beside the "
            "project checkout to run this test"
        )
    return SHARED_DATA_DIR


@pytest.fixture(scope="session")
def tiny_synthetic_data(tmp_path_factory) -> str:
    """A converted built-in dataset small enough for training tests (64 images of 32 px)."""
    from data_prep import convert_lib  # pylint: disable=import-outside-toplevel

    output_dir = tmp_path_factory.mktemp("tiny_synthetic") / "data"
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
    return str(output_dir)


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
    """A model dir of a tiny captioning S-CNN-RNN trained for a few steps on `tiny_synthetic_data`."""
    return _train_tiny_model(tiny_synthetic_data, str(tmp_path_factory.mktemp("caption_model")), "caption")


@pytest.fixture(scope="session")
def tiny_multilabel_model_dir(tiny_synthetic_data, tmp_path_factory) -> str:
    """A model dir of a tiny multi-label S-CNN-RNN trained for a few steps on `tiny_synthetic_data`."""
    return _train_tiny_model(tiny_synthetic_data, str(tmp_path_factory.mktemp("label_model")), "multilabel")
