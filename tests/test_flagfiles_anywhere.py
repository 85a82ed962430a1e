"""Every flagfile gives the same flags from any working directory and from the installed copy."""

import glob
import os
import shutil

import pytest

from s_cnn_rnn import command_line

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(PROJECT_ROOT, "flags", "*.flags")))


@pytest.fixture(scope="module")
def installed_flags(tmp_path_factory) -> str:
    """The flagfiles where `pip install` puts them (setup.py data_files: PREFIX/share/s-cnn-rnn/flags)."""
    folder = tmp_path_factory.mktemp("prefix") / "share" / "s-cnn-rnn" / "flags"
    shutil.copytree(os.path.join(PROJECT_ROOT, "flags"), folder)
    return str(folder)


@pytest.mark.parametrize("name", FLAGFILES)
def test_a_flagfile_reads_the_same_anywhere(name, installed_flags, tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    expected = command_line.expand_flagfiles(["prog", f"--flagfile=flags/{name}"])
    assert not any(flag.startswith("--flagfile") for flag in expected)
    monkeypatch.chdir(tmp_path)  # no flags/ folder here: a cwd-relative include would not be found
    assert command_line.expand_flagfiles(["prog", f"--flagfile={PROJECT_ROOT}/flags/{name}"]) == expected
    assert command_line.expand_flagfiles(["prog", f"--flagfile={installed_flags}/{name}"]) == expected
