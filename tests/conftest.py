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
