"""`DecodeOptions`: how a trained model decodes, shared by evaluate, predict and export.

`s-cnn-rnn-evaluate`, `s-cnn-rnn-predict` and `s-cnn-rnn-export` derive their decoding flags
from these fields (`option_flags.define(DecodeOptions, fields=...)`), each taking the ones it
uses; add a decoding option here and it is one flag in every command that lists it. Imports no
TensorFlow.
"""

import dataclasses

from s_cnn_rnn import errors
from s_cnn_rnn.models import variants

# `DecodeOptions.concepts`: where the bridge's concept vector comes from.
CONCEPT_SOURCES = ("predicted", "ground_truth")
# `DecodeOptions.label_decoding`: greedy masking the labels already emitted, or the paper's plain greedy.
LABEL_DECODINGS = ("no_repeat", "plain")


@dataclasses.dataclass
class DecodeOptions:
    """Decoding settings (see `s_cnn_rnn/inference.py`'s `Annotator`).

    Raises:
      OptionError: on construction, a value that makes no sense (naming the flag).
    """

    # Captions: beam width (SPEC I2: 3).
    beam_width: int = 3
    # Most tokens decoded (default: 20 for captions, the label count for labels).
    max_length: int | None = None
    # Images per model call.
    batch_size: int = 32
    # Weights to restore: best = each stage's best checkpoint by its validation metric (MODEL_DIR/<stage>/best/),
    # its latest where it kept none (the default); latest = the newest in <stage>/checkpoints/; STEP = ckpt-STEP.
    checkpoint: str = "best"
    # What the decoder's bridge reads: predicted = the CNN's concept probabilities (the model as trained);
    # ground_truth = each image's ground-truth concept multi-hot, the input of stage 2 (an oracle diagnostic:
    # ground_truth - predicted = what the concept predictor loses). Only for variants whose bridge reads concepts.
    concepts: str = dataclasses.field(default="predicted", metadata={"choices": CONCEPT_SOURCES})
    # Labels: no_repeat = greedy decoding that never emits a label twice (masked once emitted; this project's
    # default, labels being a set); plain = the paper's plain greedy argmax (a repeated label counts once).
    label_decoding: str = dataclasses.field(default="no_repeat", metadata={"choices": LABEL_DECODINGS})

    def __post_init__(self):
        errors.check_at_least("DecodeOptions", "beam_width", self.beam_width, 1)
        errors.check_at_least("DecodeOptions", "batch_size", self.batch_size, 1)
        if self.checkpoint not in ("best", "latest") and not (self.checkpoint.isdigit() and int(self.checkpoint) > 0):
            raise errors.OptionError(
                f"DecodeOptions.checkpoint={self.checkpoint!r}: must be best, latest or a step number",
                field="checkpoint", reason="must be best, latest or a step number")
        if self.max_length is not None:
            errors.check_at_least("DecodeOptions", "max_length", self.max_length, 1)
        errors.check_choice("DecodeOptions", "concepts", self.concepts, CONCEPT_SOURCES)
        check_label_decoding(self.label_decoding)


def check_label_decoding(label_decoding: str) -> None:
    """Raises `OptionError` unless `label_decoding` is one of `LABEL_DECODINGS`."""
    errors.check_choice("DecodeOptions", "label_decoding", label_decoding, LABEL_DECODINGS)


def check_concept_source(concepts: str, variant: str) -> None:
    """Refuses ground-truth concepts for a model whose bridge does not read concepts.

    Args:
      concepts: a `CONCEPT_SOURCES` value.
      variant: the model's `ModelConfig.variant` (its record says what the bridge reads).

    Raises:
      errors.OptionError: one line naming --concepts, the variant and the fix.
    """
    errors.check_choice("DecodeOptions", "concepts", concepts, CONCEPT_SOURCES)
    embedding = variants.get(variant).embedding
    if concepts == "ground_truth" and embedding != "concepts":
        readers = [name for name, record in variants.VARIANTS.items() if record.embedding == "concepts"]
        reads = f"feeds its decoder {embedding}, not concepts" if embedding else "has no decoder"
        reason = (f"variant {variant!r} {reads}, so there are no decoded concepts to replace: use "
                  f"--concepts=predicted (only {', '.join(readers)} decode from concepts)")
        raise errors.OptionError(f"--concepts={concepts}: {reason}", field="concepts", reason=reason)
