"""Real `s-cnn-rnn-train` processes: Ctrl-C keeps the steps trained, two loopback workers write safely.

What they guard: Ctrl-C keeps every step since the last checkpoint (no traceback, no crash inside
TensorFlow: the loop stops between steps), and under `--distribution=multi_worker` only the chief
writes the model dir (and a one-file split is still sharded).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import tensorflow as tf

from s_cnn_rnn.training import history as history_lib
from tests import cli_runner

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = (
    "--stage=cnn", "--backbone=small_cnn", "--backbone_weights=none", "--image_size=32", "--small_cnn_width=8",
    "--embedding_dim=16", "--lstm_units=16", "--batch_size=4", "--validate_every=0", "--log_every=1",
)
RESTORE_NOISE = re.compile(r"could not be found in the restored object|Unresolved object in checkpoint")


def _sigint_as_in_a_terminal() -> None:
    """Gives the child Ctrl-C's default action: a suite started in the background (`nohup pytest &`)
    ignores SIGINT, its children inherit that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Run:
    """One `python -m s_cnn_rnn.train` process with its stderr in a file."""

    def __init__(self, log_path, data_dir, model_dir, *flags, env=None):
        self.log_path = log_path
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")]))
        with open(log_path, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "s_cnn_rnn.train", f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                 *TINY_FLAGS, *flags],
                cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=log,
                preexec_fn=_sigint_as_in_a_terminal,
            )

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def wait_for(self, pattern: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log()):
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} after {timeout} s:\n{self.log()[-3000:]}"
            time.sleep(0.2)

    def finish(self, timeout: float = 300) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def test_ctrl_c_saves_the_current_step_and_the_rerun_resumes_there(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    run = _Run(tmp_path / "first.log", tiny_synthetic_data, model_dir, "--train_steps=100000",
               "--checkpoint_every=100000")
    run.wait_for(r"stage cnn step 3/100000")
    run.process.send_signal(signal.SIGINT)
    assert run.finish(120) == 130
    log = run.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Ctrl-C: stopping after the current step" in log  # the step ran to its end, then the loop stopped
    last = log.strip().splitlines()[-1]
    match = re.fullmatch(r"s-cnn-rnn-train: interrupted: stage cnn interrupted at step (\d+) of 100000 "
                         r"\(checkpoint of step \1 in .*\); rerun the same command to resume\.", last)
    assert match, last
    saved = int(match.group(1))
    assert saved >= 3
    assert tf.train.latest_checkpoint(str(model_dir / "cnn" / "checkpoints")).endswith(f"ckpt-{saved}")

    # The rerun is about resuming, not about the process: it runs in this one.
    rerun = cli_runner.run("s_cnn_rnn.train", f"--data_dir={tiny_synthetic_data}", f"--model_dir={model_dir}",
                           *TINY_FLAGS, f"--train_steps={saved + 1}", cwd=PROJECT_ROOT)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming stage cnn at step {saved} of {saved + 1}" in rerun.stderr
    assert not RESTORE_NOISE.search(rerun.stderr)
    steps = [r["step"] for r in history_lib.read_history(str(model_dir / "cnn" / "history.jsonl"))]
    assert steps == list(range(1, saved + 2))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for one in sockets:
        one.bind(("127.0.0.1", 0))
    ports = [one.getsockname()[1] for one in sockets]
    for one in sockets:
        one.close()
    return ports


def _workers(tmp_path, name, data_dir, model_dir, *flags) -> list[_Run]:
    """Two loopback workers of one multi-worker run (worker 0 is the chief)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    return [
        _Run(tmp_path / f"{name}-{index}.log", data_dir, model_dir, "--distribution=multi_worker",
             "--checkpoint_every=2", *flags,
             env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})})
        for index in range(2)
    ]


def _finish_all(runs: list[_Run]) -> None:
    codes = [run.finish() for run in runs]
    assert codes == [0, 0], "\n".join(run.log()[-2000:] for run in runs)


def test_two_loopback_workers_write_only_through_the_chief_and_resume(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    stage_dir = model_dir / "cnn"
    checkpoints = stage_dir / "checkpoints"
    # Two runs in a row: one killed (kill -9, both workers) in the middle of the stage, then one resuming
    # at its last checkpoint that finishes.
    killed = _workers(tmp_path, "killed", tiny_synthetic_data, model_dir, "--train_steps=100000")
    killed[0].wait_for(r"stage cnn step 11/100000")
    for run in killed:
        run.process.kill()
        run.process.wait()
    saved = int(tf.train.latest_checkpoint(str(checkpoints)).rsplit("-", 1)[1])
    assert saved >= 10
    rerun = _workers(tmp_path, "rerun", tiny_synthetic_data, model_dir, f"--train_steps={saved + 2}")
    _finish_all(rerun)
    for run in rerun:
        assert f"resuming stage cnn at step {saved} of {saved + 2}" in run.log()
    steps = [r["step"] for r in history_lib.read_history(str(stage_dir / "history.jsonl"))]
    assert steps == list(range(1, saved + 3))
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith(f"ckpt-{saved + 2}")
    # Only the chief wrote: no worker's temporary dir is left, one events file per run (killed, rerun).
    assert sorted(os.listdir(stage_dir)) == ["LOCK", "checkpoints", "history.jsonl", "tensorboard"]
    assert len(os.listdir(stage_dir / "tensorboard")) == 2
