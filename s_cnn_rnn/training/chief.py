"""Who writes the model dir: the chief alone (tf.distribute's multi-worker pattern).

Under `--distribution=multi_worker` every worker runs the same program on a shared model
dir. Checkpoint saving is a collective operation, so every worker must call it; as the
TensorFlow multi-worker guide prescribes, the chief writes to the real checkpoint dir and
the other workers write to a temporary dir of their own that is deleted right after each
save. history.jsonl, TensorBoard files, model_config.json and the vocabularies are the
chief's alone. Every worker restores from the chief's checkpoints.

For the default and mirrored strategies (one process) that process is the chief.
"""

import glob
import os
import re

import tensorflow as tf
from absl import logging

# TensorFlow stages a sharded save in `<prefix>_temp/` and renames the parts into place; a
# save that died (disk full, kill) leaves that dir behind. Only these names are removed.
_STAGING_DIR = re.compile(r"^ckpt-\d+_temp$")


def task_of(strategy: tf.distribute.Strategy) -> tuple[str | None, int | None]:
    """(task_type, task_id) of this process in a multi-worker cluster; (None, None) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for a single process, the "chief" task, or worker 0 of a cluster without a chief."""
    task_type, task_id = task_of(strategy)
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether other processes train with this one (a save needs all of them)."""
    return task_of(strategy)[0] is not None


def remove_staging_dirs(checkpoint_dir: str) -> list[str]:
    """Deletes `ckpt-N_temp/` dirs a failed save left in `checkpoint_dir`; returns their paths.

    Call it only while holding the stage's lock (no save of another run can be in flight).
    """
    removed = []
    for path in sorted(glob.glob(os.path.join(checkpoint_dir, "*_temp"))):
        if _STAGING_DIR.match(os.path.basename(path)) and os.path.isdir(path):
            tf.io.gfile.rmtree(path)
            removed.append(path)
    if removed:
        logging.warning("removed %d unfinished checkpoint save(s) of an earlier run: %s",
                        len(removed), ", ".join(removed))
    return removed


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """`strategy.experimental_distribute_dataset`, sharded by element across workers.

    tf.data's default (AUTO) shards by file and fails when a split has fewer files than
    there are workers (the converter writes one file for a small split); DATA sharding has
    every worker read the files and keep its share of the batches, which always works.
    """
    if is_multi_worker(strategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return strategy.experimental_distribute_dataset(dataset)


class CheckpointSaver:
    """A CheckpointManager on the chief's dir; other workers save to a throw-away dir.

    Args:
      checkpoint: the `tf.train.Checkpoint` to save and restore.
      directory: `MODEL_DIR/<stage>/checkpoints` (the chief's, which every worker restores).
      strategy: the tf.distribute strategy (decides chief or not).
      max_to_keep: checkpoints the chief keeps.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, strategy: tf.distribute.Strategy,
                 max_to_keep: int = 3):
        self.checkpoint = checkpoint
        self.directory = directory
        self.is_chief = is_chief(strategy)
        if self.is_chief:
            self._write_dir = directory
        else:
            _, task_id = task_of(strategy)
            self._write_dir = os.path.join(os.path.dirname(directory), f"workertemp_{task_id}")
            if tf.io.gfile.exists(self._write_dir):  # left by a killed run of this worker
                tf.io.gfile.rmtree(self._write_dir)
        self._manager = tf.train.CheckpointManager(checkpoint, self._write_dir, max_to_keep=max_to_keep)

    @property
    def latest_checkpoint(self) -> str | None:
        """The chief's newest checkpoint (what every worker resumes from)."""
        return tf.train.latest_checkpoint(self.directory)

    def save(self, checkpoint_number: int) -> str | None:
        """Saves on every worker (a collective); returns the chief's path, None elsewhere."""
        path = self._manager.save(checkpoint_number=checkpoint_number)
        if not self.is_chief:
            tf.io.gfile.rmtree(self._write_dir)
            return None
        return path


class NullHistory:
    """The history writer of a non-chief worker: records nothing."""

    resumed: dict = {}  # no earlier record (`HistoryWriter.resumed`)

    def write(self, record: dict) -> None:
        del record

    def close(self) -> None:
        pass
