"""The tasks (captioning, multi-label annotation) as objects, and their registry.

    task = tasks.get("caption")   # a `tasks.base.Task`
    num_concepts, vocab_size = task.sizes(data_dir.dataset_info(DATA_DIR))

Imports no TensorFlow. To add a task: subclass `base.Task` in a new module, implement its
abstract methods, and add an instance to `_REGISTRY` below (BUILD_NOTES.md, "Tasks").
"""

from s_cnn_rnn.tasks.base import Task
from s_cnn_rnn.tasks.caption import CaptionTask
from s_cnn_rnn.tasks.multilabel import MultiLabelTask

_REGISTRY = {task.name: task for task in (CaptionTask(), MultiLabelTask())}
# The `--task` values, in the order flags and messages list them.
NAMES = tuple(_REGISTRY)


class UnknownTaskError(ValueError):
    """A task name that no registered task has."""


def get(name: str) -> Task:
    """The registered task called `name`.

    Raises:
      UnknownTaskError: one line naming the unknown task and the known ones.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}: --task must be one of {', '.join(NAMES)}") from None


__all__ = ["NAMES", "Task", "UnknownTaskError", "get"]
