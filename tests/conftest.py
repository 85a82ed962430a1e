"""Shared pytest fixtures."""

import os
import pathlib

import pytest

# Keep TensorFlow quiet and single-machine friendly in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
    from data_prep import conversion  # pylint: disable=import-outside-toplevel

    output_dir = tmp_path_factory.mktemp("tiny_synthetic") / "data"
    conversion.convert(
        conversion.ConvertOptions(
            dataset="synthetic",
            output_dir=str(output_dir),
            synthetic_sizes=(48, 8, 8),
            synthetic_image_size=32,
            num_concepts=40,
            num_workers=0,
            show_progress=False,
        )
    )
    return str(output_dir)
