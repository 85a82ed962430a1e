"""`PretrainOptions`: the settings of `s-cnn-rnn-pretrain-backbone` (one flag per field).

Imports no TensorFlow, so the command defines its flags before TensorFlow starts.
"""

import dataclasses

from s_cnn_rnn import errors
from s_cnn_rnn.models import backbone_specs

# The backbones with no ImageNet weights of their own: the ones worth pretraining here on a CPU.
BACKBONES = tuple(spec.name for spec in backbone_specs.BACKBONES.values() if not spec.has_imagenet_weights)


@dataclasses.dataclass
class PretrainOptions:
    """How the backbone is pretrained on single-object recognition.

    Raises:
      OptionError: on construction, a value that makes no sense (naming the flag).
    """

    # The backbone to pretrain (as --backbone of s-cnn-rnn-train).
    backbone: str = dataclasses.field(default="small_cnn", metadata={"choices": BACKBONES})
    # Square input side in pixels (as --image_size of s-cnn-rnn-train).
    image_size: int = 64
    # Channel width of small_cnn's first block (as --small_cnn_width of s-cnn-rnn-train).
    small_cnn_width: int = 32
    # Side the images are drawn at before the input pipeline's resize to --image_size; 96 = the synthetic
    # dataset's default, whose images the miniature tables resize the same way.
    render_size: int = 96
    # Seed of the images, the initialisation and the batches (the same seed gives the same weights).
    seed: int = 0
    # Training images, drawn once (and flipped at random on every pass).
    num_train_images: int = 7400
    # Held-out images (a separate stream) for the reported top-1 accuracy.
    num_heldout_images: int = 1850
    # Optimizer steps.
    train_steps: int = 2000
    # Images per step.
    batch_size: int = 32
    # Adam's initial learning rate (cosine-decayed to 0 over --train_steps).
    learning_rate: float = 2e-3

    def __post_init__(self):
        errors.check_choice("PretrainOptions", "backbone", self.backbone, BACKBONES)
        minimum = backbone_specs.get(self.backbone).min_image_size
        errors.check_at_least("PretrainOptions", "image_size", self.image_size, minimum)
        for name, low in (("small_cnn_width", 1), ("render_size", 16), ("seed", 0), ("num_train_images", 1),
                          ("num_heldout_images", 1), ("train_steps", 1), ("batch_size", 1)):
            errors.check_at_least("PretrainOptions", name, getattr(self, name), low)
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) or not (
                self.learning_rate > 0):
            raise errors.OptionError(f"PretrainOptions.learning_rate={self.learning_rate!r}: must be > 0",
                                     field="learning_rate", reason="must be > 0")
