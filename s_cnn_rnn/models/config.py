"""`ModelConfig`: every choice that fixes the model's architecture, and the variants it encodes.

The paper's tables compare one CNN-RNN family; one builder takes the variant as an argument:

| variant        | paper | image embedding `I_e` (bridge input) | bridge into the LSTM        | concept loss `L_u` | decoder |
|----------------|-------|--------------------------------------|-----------------------------|--------------------|---------|
| `s_cnn_rnn`    | V1    | concept probabilities `ŝ` [B, k] (M1)| Dense -> h0, c0 = 0 (M2)    | yes                | yes     |
| `s_cnn_rnn` + `use_tags` (+ `freeze_cnn`) | V2 (Ours+Tag1K [Fix]) | `ŝ` = sigmoid(image + tag logits) (M8) | as V1 | yes | yes |
| `nic_f`        | V3    | pooled CNN features [B, F]           | step-zero input (Fig. 1a)   | no (no concept layer) | yes  |
| `nic_deeply`   | V4    | pooled CNN features [B, F]           | step-zero input (Fig. 1a)   | yes (on a concept layer beside) | yes |
| `cnn_logistic` | V5    | -                                    | -                           | yes                | no      |
| `ria`          | V6    | pooled CNN features [B, F]           | Dense -> h0, c0 = 0 (Fig. 1b) | no (no concept layer) | yes  |

Bridge modes (see `decoder.py`):
  * `initial_state` (M2, RIA [14]): h0 = W_i I_e + b_i, c0 = 0. The paper sets only the hidden state
    (Sec. 3.3 and its footnote 2); a zero cell state is our reading.
  * `step_zero_input` (NIC [29]): x_img = W_img I_e + b (projected to the word-embedding size), then
    (h0, c0) = LSTM(x_img, 0, 0); `<start>` is the next input.

Dropout (`dropout`, default 0) is applied, in training only, to the pooled CNN features before the
concept layer, to the word embeddings, and to the LSTM outputs before the word logits. The bridge of
the feature variants reads the pooled features before dropout.
"""

import dataclasses
import json
from typing import Any, Optional

from s_cnn_rnn import errors

VARIANTS = ("s_cnn_rnn", "nic_f", "nic_deeply", "cnn_logistic", "ria")
BACKBONES = ("inception_v3", "vgg16", "small_cnn")
LSTM_ACTIVATIONS = ("tanh", "relu")
PREPROCESSING_MODES = ("tf", "caffe")

# The pixel scaling each backbone's pretrained weights expect (`image_preprocessing.py` modes):
# "tf" = [-1, 1]; "caffe" = BGR minus the ImageNet mean.
BACKBONE_PREPROCESSING = {"inception_v3": "tf", "vgg16": "caffe", "small_cnn": "tf"}
BACKBONE_DEFAULT_IMAGE_SIZE = {"inception_v3": 299, "vgg16": 224, "small_cnn": 96}
# keras.applications refuses smaller inputs; small_cnn has four stride-2 stages at most.
BACKBONE_MIN_IMAGE_SIZE = {"inception_v3": 75, "vgg16": 32, "small_cnn": 16}

_CONCEPT_VARIANTS = ("s_cnn_rnn", "nic_deeply", "cnn_logistic")
_TAG_VARIANTS = ("s_cnn_rnn", "cnn_logistic")


class ModelConfigError(errors.UserError, ValueError):
    """A `ModelConfig` field (or a combination of fields) is invalid."""


@dataclasses.dataclass
class ModelConfig:
    """Architecture of an S-CNN-RNN model or one of its baselines (see the module docstring).

    Saved beside every checkpoint (`to_dict`), so a checkpoint can be rebuilt without flags.
    """

    # Which model of the paper's tables: s_cnn_rnn (V1/V2) | nic_f (V3) | nic_deeply (V4) |
    # cnn_logistic (V5) | ria (V6).
    variant: str = "s_cnn_rnn"
    # The CNN: inception_v3 (captioning, M6) | vgg16 (COCO multi-label) | small_cnn (CPU tests, demo).
    backbone: str = "inception_v3"
    # "imagenet" (keras.applications download) | "none" (random init) | path to a .weights.h5 / .h5.
    backbone_weights: str = "imagenet"
    # Square input side in pixels; None -> the backbone's default (299 / 224 / 96).
    image_size: Optional[int] = None
    # Pixel scaling of the input images: "tf" | "caffe"; None -> what the backbone expects.
    preprocessing: Optional[str] = None
    # k: concept vocabulary (1,000 caption words, M7) or number of labels (multi-label).
    num_concepts: int = 1000
    # Decoder output size including the specials (12,000 captions; labels + 3 for multi-label).
    vocab_size: int = 12000
    # Word embedding size: 512 for captions (M6), 256 for multi-label (M5).
    embedding_dim: int = 512
    # LSTM units (M3): 512 in every experiment of the paper.
    lstm_units: int = 512
    # LSTM cell activation: tanh (captions) | relu (multi-label, M5).
    lstm_activation: str = "tanh"
    # Side information (M8): noisy tags -> MLP -> logits summed into the concept logits.
    use_tags: bool = False
    # Tag vocabulary size (len(tags.txt)); required when use_tags.
    num_tags: int = 0
    # Hidden ReLU layer of the tag MLP (M8: 256).
    tag_hidden_units: int = 256
    # T7 "Fix": the backbone and the image concept layer are not trained (the tag MLP is).
    freeze_cnn: bool = False
    # Dropout rate on pooled features, word embeddings and LSTM outputs (training only).
    dropout: float = 0.0
    # Channel width of the first small_cnn block (the others are 2x and 4x); ignored otherwise.
    small_cnn_width: int = 32

    def __post_init__(self):
        self.validate()

    # ----------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raises `ModelConfigError` naming the bad field and the accepted values (not the data
        sizes: see `validate_sizes`)."""
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("backbone", self.backbone, BACKBONES)
        _check_choice("lstm_activation", self.lstm_activation, LSTM_ACTIVATIONS)
        if self.preprocessing is not None:
            _check_choice("preprocessing", self.preprocessing, PREPROCESSING_MODES)
        for name in ("num_concepts", "vocab_size", "embedding_dim", "lstm_units",
                     "tag_hidden_units", "small_cnn_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ModelConfigError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.num_tags, int) or self.num_tags < 0:
            raise ModelConfigError(f"ModelConfig.num_tags must be an integer >= 0, got {self.num_tags!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not (
                0.0 <= self.dropout < 1.0):
            raise ModelConfigError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout!r}")
        self._validate_image()
        self._validate_weights()
        if self.use_tags and self.variant not in _TAG_VARIANTS:
            raise ModelConfigError(
                f"use_tags needs the concept prediction layer as the image embedding (variants "
                f"{_TAG_VARIANTS}); variant {self.variant!r} would ignore the tags")

    def validate_sizes(self) -> None:
        """Checks the sizes that come from the data; `build_model` calls it.

        Separate from `validate` (which runs on construction) so that a config can be made from flags
        with placeholder sizes and completed with `dataclasses.replace` once the data is known.
        """
        if self.use_tags and self.num_tags <= 0:
            raise ModelConfigError("use_tags=True needs num_tags > 0 (the length of vocab/tags.txt)")
        if self.has_decoder and self.vocab_size < 4:
            raise ModelConfigError(
                f"vocab_size={self.vocab_size} leaves no room beside <pad> <start> <end>")

    def _validate_image(self) -> None:
        if self.image_size is not None:
            minimum = BACKBONE_MIN_IMAGE_SIZE[self.backbone]
            if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or (
                    self.image_size < minimum):
                raise ModelConfigError(
                    f"image_size={self.image_size!r} is too small for {self.backbone} "
                    f"(minimum {minimum}); use None for the default {self.resolved_image_size}")

    def _validate_weights(self) -> None:
        weights = self.backbone_weights
        if not isinstance(weights, str) or not weights:
            raise ModelConfigError(
                f"backbone_weights must be 'imagenet', 'none' or a .weights.h5 path, got {weights!r}")
        is_path = weights not in ("imagenet", "none")
        if is_path and not weights.endswith(".h5"):
            raise ModelConfigError(
                f"backbone_weights={weights!r} is neither 'imagenet', 'none' nor a path ending in "
                ".weights.h5 (or a keras.applications .h5 file)")
        if self.backbone == "small_cnn" and weights == "imagenet":
            raise ModelConfigError(
                "small_cnn has no ImageNet weights: use --backbone_weights=none (or a .weights.h5 "
                "path saved from a small_cnn backbone)")
        expected = BACKBONE_PREPROCESSING[self.backbone]
        if weights != "none" and self.preprocessing_mode != expected:
            raise ModelConfigError(
                f"{self.backbone} with pretrained weights expects {expected!r} image preprocessing, "
                f"got preprocessing={self.preprocessing!r}; drop the override or use "
                "--backbone_weights=none")

    # ----------------------------------------------------------------------------- derived values
    @property
    def resolved_image_size(self) -> int:
        """The square input side in pixels."""
        return self.image_size or BACKBONE_DEFAULT_IMAGE_SIZE[self.backbone]

    @property
    def preprocessing_mode(self) -> str:
        """The `image_preprocessing` mode the input images must arrive in ("tf" | "caffe")."""
        return self.preprocessing or BACKBONE_PREPROCESSING[self.backbone]

    @property
    def has_concept_loss(self) -> bool:
        """Whether the model has a concept layer trained with `L_u` (V1, V2, V4, V5)."""
        return self.variant in _CONCEPT_VARIANTS

    @property
    def has_decoder(self) -> bool:
        """Whether there is an LSTM decoder (all but cnn_logistic)."""
        return self.variant != "cnn_logistic"

    @property
    def bridge_input(self) -> Optional[str]:
        """What the bridge reads: "concepts" (ŝ, V1/V2), "features" (V3, V4, V6), None (V5)."""
        if not self.has_decoder:
            return None
        return "concepts" if self.variant == "s_cnn_rnn" else "features"

    @property
    def bridge_mode(self) -> Optional[str]:
        """"initial_state" (V1, V2, V6), "step_zero_input" (V3, V4) or None (V5)."""
        if not self.has_decoder:
            return None
        return "step_zero_input" if self.variant in ("nic_f", "nic_deeply") else "initial_state"

    # ----------------------------------------------------------------------------- (de)serialising
    def to_dict(self) -> dict:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Inverse of `to_dict`; missing fields take their defaults, unknown fields are an error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelConfigError(
                f"unknown ModelConfig fields {unknown} (known: {sorted(known)}); was the config "
                "written by another version of s_cnn_rnn?")
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ModelConfigError(f"unknown ModelConfig.{name} {value!r}; expected one of {list(choices)}")
