"""The tasks (captioning, multi-label annotation) as records of facts, and their registry.

    task = tasks.get("caption")   # a `tasks.base.Task`
    num_concepts, vocab_size = task.sizes(data_dir.dataset_info(DATA_DIR))

Low in the house: imports only `record_schema` (no TensorFlow); the modules that do a job per
task import it, never the other way round. To add a task: a `base.Task` record in a new
module, added to `_REGISTRY` below, and its entry in each per-task table (BUILD_NOTES.md, "Tasks").
"""

from s_cnn_rnn.tasks.base import Task
from s_cnn_rnn.tasks.caption import CAPTION
from s_cnn_rnn.tasks.multilabel import MULTILABEL

_REGISTRY = {task.name: task for task in (CAPTION, MULTILABEL)}
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
