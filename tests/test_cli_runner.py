"""tests/cli_runner.py: a command run in the test process behaves as its own process would."""

import os
import sys

from absl import flags

from tests import cli_runner


def _project_flags() -> set:
    """The names of the flags defined by modules other than absl's (its --help* appear once per process)."""
    return {flag.name for module, defined in flags.FLAGS.flags_by_module_dict().items()
            if not module.startswith("absl") for flag in defined}


def test_each_run_starts_from_fresh_flags_and_leaves_none_behind(tmp_path):
    # Other test files on this worker may have imported command modules (their flags are defined here).
    flags_before = _project_flags()
    absent = tmp_path / "absent"
    first = cli_runner.run("s_cnn_rnn.evaluate", f"--model_dir={absent}", f"--data_dir={tmp_path}")
    assert first.returncode == 2 and "holds no trained model" in first.stderr
    # Without --model_dir the required flag is missing again: the last run's value did not stay.
    again = cli_runner.run("s_cnn_rnn.evaluate", f"--data_dir={tmp_path}")
    assert again.returncode == 2 and "--model_dir" in again.stderr and "holds no trained model" not in again.stderr
    # Another command that defines flags of the same names (--output_dir) runs after it.
    other = cli_runner.run("s_cnn_rnn.score_captions", f"--references={absent}.json", f"--results={absent}.json")
    assert other.returncode == 2 and f"references file {absent}.json does not exist" in other.stderr
    assert _project_flags() == flags_before


def test_a_bad_flag_is_one_line_and_exit_status_2():
    completed = cli_runner.run("s_cnn_rnn.evaluate", "--model_dir=/m", "--data_dir=/d", "--convention=macro")
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.splitlines() == [completed.stderr.strip()]
    assert completed.stderr.startswith("s-cnn-rnn-evaluate: error: flag --convention=macro")


def test_help_goes_to_stdout_and_the_process_settings_are_restored(tmp_path):
    argv, cwd, environment = list(sys.argv), os.getcwd(), dict(os.environ)
    shown = cli_runner.run("s_cnn_rnn.evaluate", "--helpshort", cwd=tmp_path, env=dict(environment, EXTRA="1"))
    assert shown.returncode == 1  # absl's --help* exit status
    assert "--checkpoint" in shown.stdout and "--model_dir" in shown.stdout
    assert (sys.argv, os.getcwd(), dict(os.environ)) == (argv, cwd, environment)
