"""s-cnn-rnn-reproduce: one process per row, logs appended, no command outliving its reproduce."""

import os
import signal
import subprocess
import sys
import time

import pytest

from s_cnn_rnn.reproduce import runner
from s_cnn_rnn.training import locks
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(PROJECT_ROOT, "flags")


def _run(tmp_path, train_command=("-c", "print('trained')")) -> runner.RowRun:
    model_dir = str(tmp_path / "row" / "seed0")
    return runner.RowRun("row", 0, model_dir, (os.path.join(model_dir, "eval_test", "metrics.json"),),
                         tuple(train_command), ("-c", "print('evaluated')"), {})


def test_a_held_row_is_refused_before_its_log_is_touched(tmp_path):
    run = _run(tmp_path)
    os.makedirs(run.model_dir)
    log_path = os.path.join(run.model_dir, runner.TRAIN_LOG)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("the first run's log head\n")
    with locks.StageLock(run.model_dir):  # another reproduce trains this row
        with pytest.raises(locks.StageLockedError, match=f"pid {os.getpid()}"):
            runner.train(run, FLAGS_DIR)
    with open(log_path, encoding="utf-8") as log:
        assert log.read() == "the first run's log head\n"
    assert not os.path.exists(os.path.join(run.model_dir, runner.RUN_FILE))


def test_logs_are_appended_not_truncated(tmp_path):
    marker = tmp_path / "failed_once"
    command = ("-c", f"import os, sys; first = not os.path.exists({str(marker)!r}); open({str(marker)!r}, 'w'); "
                     "print('failed' if first else 'trained'); sys.exit(3 if first else 0)")
    run = _run(tmp_path, command)
    with pytest.raises(runner.RunError, match="exit 3"):
        runner.train(run, FLAGS_DIR)
    assert runner.train(run, FLAGS_DIR) > 0  # the rerun resumes
    with open(os.path.join(run.model_dir, runner.TRAIN_LOG), encoding="utf-8") as log:
        text = log.read()
    assert text.count("=== ") == 2 and text.index("failed") < text.index("trained")
    assert "\0" not in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_command_dies_with_its_reproduce(tmp_path):
    """kill -9 of the reproduce process: its running command gets SIGTERM instead of running on."""
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    parent = ("import sys; sys.path.insert(0, sys.argv[1]); from s_cnn_rnn.reproduce import runner; "
              f"runner.run_logged(('-c', {child!r}), sys.argv[2], sys.argv[1], None)")
    reproduce = subprocess.Popen([sys.executable, "-c", parent, PROJECT_ROOT, str(tmp_path / "train.log")])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child_pid = int(pid_file.read_text())
        os.kill(reproduce.pid, signal.SIGKILL)
        reproduce.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child_pid):
            time.sleep(0.05)
        assert not _alive(child_pid), "the command outlived its reproduce"
    finally:
        if reproduce.poll() is None:
            reproduce.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


# ----------------------------------------------------------------------------- the command's own errors


def _reproduce(*args):
    return cli_runner.run("s_cnn_rnn.reproduce", *args)


def _one_line(done, code: int) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, lines
    return lines[0]


@pytest.mark.parametrize("what", ["data dir", "model dir", "user files", "under a file"])
def test_output_dir_that_is_not_reproduces_is_refused(what, tiny_synthetic_data, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    output = str(folder)
    if what == "data dir":
        output = tiny_synthetic_data
    elif what == "model dir":
        (folder / "model_config.json").write_text("{}")
    elif what == "user files":
        (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    else:
        (folder / "a_file").write_text("x")
        output = str(folder / "a_file" / "table")
    before = sorted(os.listdir(output if what != "under a file" else folder))
    done = _reproduce("--table=4", f"--data_dir={tiny_synthetic_data}", f"--output_dir={output}",
                      "--rows=coco_caption_ours")
    line = _one_line(done, 2)
    assert line.startswith("s-cnn-rnn-reproduce: error: "), line
    assert sorted(os.listdir(output if what != "under a file" else folder)) == before  # nothing written


def test_an_earlier_output_is_resumed_into(tmp_path):
    from s_cnn_rnn.reproduce import output_dir  # pylint: disable=import-outside-toplevel

    (tmp_path / "coco_caption_ours" / "seed0").mkdir(parents=True)
    (tmp_path / "table4.md").write_text("| a |")
    (tmp_path / ".table4.json.abc.tmp").write_text("")
    output_dir.check(str(tmp_path), "/elsewhere/data", FLAGS_DIR)  # no error
    (tmp_path / "bb.weights.h5").write_bytes(b"")  # --pretrained_backbone put into the output dir
    output_dir.check(str(tmp_path), "/elsewhere/data", FLAGS_DIR, own_files=(str(tmp_path / "bb.weights.h5"),))
    with pytest.raises(output_dir.output_guard.UnsafeOutputError, match="bb.weights.h5"):
        output_dir.check(str(tmp_path), "/elsewhere/data", FLAGS_DIR)


def test_ctrl_c_is_one_line_and_status_130(tiny_synthetic_data, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # where os.wait4 receives Ctrl-C

    monkeypatch.setattr(runner, "run_logged", interrupted)
    done = _reproduce("--table=4", f"--data_dir={tiny_synthetic_data}", f"--output_dir={tmp_path / 'table'}",
                      "--rows=coco_caption_ours")
    assert _one_line(done, 130) == "s-cnn-rnn-reproduce: interrupted"


def test_a_resumed_trainings_time_counts_its_earlier_attempts(tmp_path):
    marker = tmp_path / "failed_once"
    command = ("-c", f"import os, sys, time; first = not os.path.exists({str(marker)!r}); open({str(marker)!r}, 'w'); "
                     "time.sleep(1.0 if first else 0); sys.exit(3 if first else 0)")
    run = _run(tmp_path, command)
    with pytest.raises(runner.RunError):
        runner.train(run, FLAGS_DIR)
    assert not runner.is_trained(run)
    first = runner.read_timing(run)[runner.EARLIER_TRAIN_SECONDS]
    assert first >= 1.0
    rerun = runner.train(run, FLAGS_DIR)
    timing = runner.read_timing(run)
    assert timing["train_seconds"] == pytest.approx(first + rerun, abs=0.11)
    assert timing[runner.EARLIER_TRAIN_SECONDS] == first
