"""A trained model directory -> the model it describes, with its newest weights.

Shared by `s-cnn-rnn-evaluate`, `-predict`, `-export` (through `inference`) and the benchmarks;
what the directory holds and which checkpoint restores which part is `model_dir.py`'s.
"""

import dataclasses

from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import stage_handovers
from s_cnn_rnn import tasks
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.vocabulary import Vocabularies


@dataclasses.dataclass
class TrainedModel:
    """A model restored from a model dir.

    Attributes:
      model: the `SCnnRnnModel` with restored weights.
      config: its `ModelConfig`.
      task: "caption" or "multilabel".
      vocabularies: the vocabularies it was trained with.
      checkpoints: {part: checkpoint path} restored ("all" for a joint checkpoint).
    """

    model: builder.SCnnRnnModel
    config: ModelConfig
    task: str
    vocabularies: Vocabularies
    checkpoints: dict

    @property
    def task_spec(self) -> tasks.Task:
        """The task's facts (`tasks.get(self.task)`): sizes, vocabularies, decoding mode."""
        return tasks.get(self.task)

    @property
    def output_vocabulary(self):
        """The decoder's token vocabulary: words, or `<pad> <start> <end>` + labels."""
        return self.task_spec.output_vocabulary(self.vocabularies)


def build_model(model_dir: str) -> tuple[builder.SCnnRnnModel, ModelConfig, str]:
    """Builds the (untrained) model of a model dir's model_config.json.

    Returns:
      (model, its ModelConfig, task).

    Raises:
      FileNotFoundError: no model_config.json.
    """
    saved = model_dir_lib.load_config(model_dir)
    task = saved["task"]
    # The weights come from the checkpoint: never download ImageNet weights to overwrite them.
    config = dataclasses.replace(ModelConfig.from_dict(model_dir_lib.model_fields(saved)), backbone_weights="none")
    return builder.build_model(config), config, task


def load_trained_model(model_dir: str, checkpoint: str = "best") -> TrainedModel:
    """Rebuilds the model of a model dir and restores its weights.

    The joint stage's checkpoint when there is one; otherwise the CNN from the cnn stage and the
    decoder from the rnn stage (a model that was pretrained but not fine-tuned); see
    `model_dir.restore_model`.

    Args:
      model_dir: the trained model dir.
      checkpoint: "best": each stage's best checkpoint by its validation metric (`<stage>/best/`),
        its latest where it kept none; "latest": the newest in `<stage>/checkpoints/`; a step
        number: `ckpt-STEP` (of joint, or of each pretraining stage), from checkpoints/ or best/.

    Raises:
      FileNotFoundError: no model_config.json, or no such checkpoint for a part of the model.
      ValueError: `checkpoint` is none of best, latest or a step number.
    """
    checkpoint = model_dir_lib.check_checkpoint_choice(checkpoint)  # before the model is built
    model, config, task = build_model(model_dir)
    restored = stage_handovers.restore_model(model, model_dir, config.variant_record.stages, checkpoint)
    return TrainedModel(model, config, task, model_dir_lib.load_vocabularies(model_dir), restored)
