"""What training guards: a lock per stage, crash-tolerant history and config, leftovers.

Each test here fails on the code before the guard: two runs on one stage both trained, a
cut history line made the stage unresumable, a failed first run bound the model dir to its
settings, a failed save's `ckpt-N_temp/` stayed forever, a finished stage's rerun printed
one restore warning per optimizer slot.
"""

import dataclasses
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import types

import pytest
import tensorflow as tf

from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.models import backbones
from s_cnn_rnn.training import chief
from s_cnn_rnn.training import history as history_lib
from s_cnn_rnn.training import locks
from s_cnn_rnn.training import stage_runner
from test_training import TINY_MODEL
from test_training import _options

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `_options`' cnn stage: one head-only step, then two all-layer steps.
CNN_STEPS = 3

# Another process that takes a stage's lock and holds it until its stdin closes.
_HOLDER = (
    "import sys; from s_cnn_rnn.training import locks; locks.StageLock(sys.argv[1]).acquire(); "
    "print('locked', flush=True); sys.stdin.read()"
)


@pytest.fixture
def lock_holder():
    """Starts processes that hold a stage lock; yields `hold(stage_dir) -> Popen`; kills them after."""
    started = []

    def hold(stage_dir):
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", _HOLDER, str(stage_dir)], cwd=PROJECT_ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


# ---------------------------------------------------------------- point 2: a lock per stage
def test_second_run_on_a_stage_is_refused_naming_the_holder(tiny_synthetic_data, tmp_path, lock_holder):
    model_dir = tmp_path / "model"
    holder = lock_holder(model_dir / "cnn")
    with pytest.raises(locks.StageLockedError, match=f"pid {holder.pid} on "):
        stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))
    # Refused before anything was written: no config, no vocabularies, no checkpoint.
    assert sorted(os.listdir(model_dir)) == ["cnn"]
    assert os.listdir(model_dir / "cnn") == [locks.LOCK_FILE]


def test_all_stages_refused_at_once_when_one_is_held(tiny_synthetic_data, tmp_path, lock_holder):
    model_dir = tmp_path / "model"
    lock_holder(model_dir / "joint")
    with pytest.raises(locks.StageLockedError, match="joint"):
        stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="all"))
    assert not os.path.exists(model_dir / "cnn" / "checkpoints")  # the cnn stage did not start either


def test_cnn_and_rnn_train_in_parallel_on_one_model_dir(tiny_synthetic_data, tmp_path, lock_holder):
    model_dir = tmp_path / "model"
    lock_holder(model_dir / "cnn")  # the cnn pretraining runs elsewhere
    results = stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="rnn"))
    assert results["rnn"]["step"] == 2


def test_lock_of_a_dead_process_does_not_block(tiny_synthetic_data, tmp_path, lock_holder):
    model_dir = tmp_path / "model"
    holder = lock_holder(model_dir / "cnn")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert f"pid {holder.pid}" in (model_dir / "cnn" / locks.LOCK_FILE).read_text()  # its record stays
    assert stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))["cnn"]["step"] == CNN_STEPS
    assert not locks.is_locked(str(model_dir / "cnn"))  # released on the way out


def test_lock_is_released_when_training_fails(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    model = dataclasses.replace(TINY_MODEL, backbone_weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(backbones.BackboneWeightsError):
        stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn", model=model))
    assert not locks.is_locked(str(model_dir / "cnn"))


# ------------------------------------------------------- point 3: crash-proof history and config
def test_cut_last_history_line_is_dropped_and_the_stage_resumes(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn", steps=(2, 2, 2), cnn_checkpoint_every=2))
    path = model_dir / "cnn" / "history.jsonl"
    with open(path, "a", encoding="utf-8") as handle:  # a disk-full crash cut the line being appended
        handle.write('{"L_u": 1.5, "loss": 1.5 "st')
    results = stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn", steps=(3, 2, 2)))
    assert results["cnn"]["step"] == CNN_STEPS + 1
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_bad_history_line_before_the_last_names_file_and_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, oops}\n{"step": 3}\n', encoding="utf-8")
    with pytest.raises(history_lib.HistoryError, match=r"history\.jsonl, line 2: "):
        history_lib.read_history(str(path))


def test_read_history_drops_only_a_cut_last_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo', encoding="utf-8")
    assert [r["step"] for r in history_lib.read_history(str(path))] == [1, 2]


def test_failed_model_build_leaves_the_model_dir_open_for_the_fix(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    broken = dataclasses.replace(TINY_MODEL, backbone_weights="/nonexistent.weights.h5")
    with pytest.raises(backbones.BackboneWeightsError, match="backbone_weights=none"):
        stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn", model=broken))
    assert not os.path.exists(model_dir / model_dir_lib.CONFIG_FILE)
    assert not os.path.exists(model_dir / model_dir_lib.FINGERPRINTS_FILE)
    # The fix the error suggests is accepted.
    assert stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))["cnn"]["step"] == CNN_STEPS
    assert model_dir_lib.load_config(str(model_dir))["backbone_weights"] == "none"


def test_config_of_a_run_that_never_checkpointed_may_change(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    os.makedirs(model_dir)
    # A model dir left by older code: config written, then the run failed before any checkpoint.
    model_dir_lib.save_config(str(model_dir), {"backbone_weights": "imagenet", "task": "caption"})
    assert stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))["cnn"]["step"] == CNN_STEPS
    assert model_dir_lib.load_config(str(model_dir))["backbone_weights"] == "none"
    # Once a stage has a checkpoint the config binds: another setting is refused.
    wider = dataclasses.replace(TINY_MODEL, lstm_units=32)
    with pytest.raises(ValueError, match="lstm_units"):
        stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="rnn", model=wider))


# ------------------------------------------------ point 8: leftovers of failed saves, warnings
def test_staging_dir_of_a_failed_save_is_removed_on_the_next_run(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))
    checkpoints = model_dir / "cnn" / "checkpoints"
    staging = checkpoints / "ckpt-4_temp"  # what a save that died of a full disk leaves
    os.makedirs(staging)
    (staging / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 64)
    os.makedirs(checkpoints / "notes_temp")  # not TF's: kept
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn", steps=(3, 2, 2)))
    assert not staging.exists()
    assert (checkpoints / "notes_temp").is_dir()
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith(f"ckpt-{CNN_STEPS + 1}")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_rerun_of_a_finished_stage_prints_no_restore_warnings(tiny_synthetic_data, tmp_path):
    model_dir = tmp_path / "model"
    stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))
    collect = _Collect()
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addHandler(collect)
    try:
        results = stage_runner.train(_options(tiny_synthetic_data, model_dir, stage="cnn"))
        gc.collect()  # TF reports unused checkpoint values when the restore status is deleted
    finally:
        tf_logger.removeHandler(collect)
    assert results["cnn"].get("skipped")
    noise = [m for m in collect.messages if "could not be found" in m or "Unresolved object" in m]
    assert not noise, f"{len(noise)} restore warnings, e.g. {noise[:2]}"


# ---------------------------------------------- point 7: who writes (the fast half; see test_training_processes)
def test_non_chief_worker_saves_to_a_temporary_dir_it_removes(tmp_path):
    def strategy(task_type, task_id):  # only the cluster resolver decides the role
        return types.SimpleNamespace(cluster_resolver=types.SimpleNamespace(task_type=task_type, task_id=task_id))

    assert chief.is_chief(tf.distribute.get_strategy())
    assert chief.is_chief(strategy("worker", 0)) and chief.is_chief(strategy("chief", 0))
    assert not chief.is_chief(strategy("worker", 1))
    directory = str(tmp_path / "cnn" / "checkpoints")
    value = tf.Variable(1.0)
    chief_saver = chief.CheckpointSaver(tf.train.Checkpoint(value=value), directory, strategy("worker", 0))
    worker_saver = chief.CheckpointSaver(tf.train.Checkpoint(value=value), directory, strategy("worker", 1))
    assert worker_saver.save(checkpoint_number=2) is None
    assert not os.path.exists(tmp_path / "cnn" / "workertemp_1") and not os.path.exists(directory)
    chief_saver.save(checkpoint_number=2)
    assert worker_saver.save(checkpoint_number=4) is None  # again: TF's own pattern, save then delete
    assert worker_saver.latest_checkpoint == chief_saver.latest_checkpoint == os.path.join(directory, "ckpt-2")
    assert sorted(os.listdir(tmp_path / "cnn")) == ["checkpoints"]
