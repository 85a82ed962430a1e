"""Writes the items of every split as sharded TFRecords, in parallel over shards.

Each shard is written by one worker process (spawned, so TensorFlow is never forked),
which checks and re-encodes the images itself: the slow work is spread over the cores
and the parent only collects counts and skip records. A small conversion (`worker_count`)
writes its shards in the calling process instead. Shards are written under the caller's
staging directory; making the output visible is the caller's job.
"""

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import queue
import threading

import tqdm

from data_prep import image_check
from data_prep.sources.base import RawItem
from s_cnn_rnn.vocabulary import Vocabularies

_PROGRESS_EVERY = 25


@dataclasses.dataclass
class ShardTask:
    """One shard's work.

    Attributes:
      path: where the shard file goes (inside the staging directory).
      items: the shard's items, in order.
      vocabularies: shared by all shards.
      require_captions: skip images with no usable caption (caption datasets).
      split: the split the shard belongs to (any name `--splits` allows, "-" included).
    """

    path: str
    items: list[RawItem]
    vocabularies: Vocabularies
    require_captions: bool
    split: str


@dataclasses.dataclass
class ShardResult:
    """A written shard: its path, split, examples written and skip records (each with "split")."""

    path: str
    split: str
    num_examples: int
    skipped: list[dict]


# Below this many images the shards are written in the converting process: each spawned worker
# first imports TensorFlow (~6 CPU s here), as long as writing ~1,500 images takes (~4 ms each).
MIN_IMAGES_FOR_WORKERS = 1000


def worker_count(num_workers: int | None, num_items: int) -> int:
    """`num_workers` as given, or by default one per CPU (0: this process) below `MIN_IMAGES_FOR_WORKERS`."""
    if num_workers is not None:
        return num_workers
    return 0 if num_items < MIN_IMAGES_FOR_WORKERS else (os.cpu_count() or 1)


def shard_counts(num_items: int, examples_per_shard: int, num_workers: int) -> int:
    """Number of shards for a split: about `examples_per_shard` each, and enough to use every worker."""
    if num_items == 0:
        return 0
    by_size = math.ceil(num_items / examples_per_shard)
    return max(by_size, min(num_workers, num_items))


def plan_shards(
    items_by_split: dict[str, list[RawItem]],
    staging_dir: str,
    vocabularies: Vocabularies,
    require_captions: bool,
    examples_per_shard: int,
    num_workers: int,
) -> list[ShardTask]:
    """Splits each split's items into contiguous shards named `SPLIT-0000i-of-0000n.tfrecord`."""
    tasks = []
    for split, items in sorted(items_by_split.items()):
        num_shards = shard_counts(len(items), examples_per_shard, num_workers)
        for index in range(num_shards):
            start = index * len(items) // num_shards
            stop = (index + 1) * len(items) // num_shards
            name = f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"
            tasks.append(
                ShardTask(os.path.join(staging_dir, name), items[start:stop], vocabularies, require_captions, split)
            )
    return tasks


def _write_shard(task: ShardTask, progress_queue) -> ShardResult:
    """Worker: checks each image, encodes the Example and writes the shard."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from data_prep import example_encoder  # pylint: disable=import-outside-toplevel

    skipped, num_examples, pending = [], 0, 0
    with tf.io.TFRecordWriter(task.path) as writer:
        for item in task.items:
            image = None
            if item.image_path is not None:
                try:
                    image = image_check.load_image_as_jpeg(item.image_path)
                except image_check.BadImageError as error:
                    skipped.append(
                        {"id": item.image_id, "kind": "image", "reason": f"{error} ({item.image_path})"}
                    )
            if item.image_path is None or image is not None:
                encoded = example_encoder.encode_item(item, task.vocabularies, image, task.require_captions)
                skipped.extend(encoded.skipped)
                if encoded.serialized is not None:
                    writer.write(encoded.serialized)
                    num_examples += 1
            pending += 1
            if pending == _PROGRESS_EVERY:
                progress_queue.put(pending)
                pending = 0
    progress_queue.put(pending)
    # The split lets evaluation say how many of a split's images the converter skipped.
    return ShardResult(task.path, task.split, num_examples, [dict(entry, split=task.split) for entry in skipped])


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Ends the running workers at once, so that none writes on while the caller removes the
    staging dir (shutdown would wait for every running shard to finish)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    # Tasks already fed to the dead workers' pipe would block the queue's feeder thread, and with it
    # the interpreter's exit (measured: a SIGTERM-ed convert hung in Queue._finalize_join); drop them.
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        call_queue.cancel_join_thread()


def write_shards(tasks: list[ShardTask], num_workers: int, show_progress: bool = True) -> list[ShardResult]:
    """Runs the shard tasks on a pool of spawned processes, with one progress bar over all items.

    Args:
      tasks: from `plan_shards`.
      num_workers: worker processes; 0 runs in this process (debugging, tests).
      show_progress: draw a tqdm bar on stderr.

    Returns:
      One result per task, in task order.

    Raises:
      Whatever a worker raised: the caller removes the staging directory.
    """
    total = sum(len(task.items) for task in tasks)
    bar = tqdm.tqdm(total=total, unit="img", desc="converting", disable=not show_progress)
    if num_workers == 0:
        local_queue = queue.SimpleQueue()
        results = []
        for task in tasks:
            results.append(_write_shard(task, local_queue))
            while not local_queue.empty():
                bar.update(local_queue.get())
        bar.close()
        return results

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        progress_queue = manager.Queue()
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    bar.update(progress_queue.get(timeout=0.2))
                except queue.Empty:
                    continue
                except (EOFError, OSError):
                    return

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        try:
            with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context) as pool:
                futures = [pool.submit(_write_shard, task, progress_queue) for task in tasks]
                try:
                    results = [future.result() for future in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    _stop_workers(pool)
                    raise
        finally:
            stop.set()
            drainer.join()
            bar.close()
    return results
