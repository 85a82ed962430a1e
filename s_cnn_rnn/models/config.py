"""`ModelConfig`: every choice that fixes the model's architecture.

What each variant is (its embedding, bridge, concept loss, tags, decoder, stages) is its record in
`variants.py`; what each backbone is (sizes, pixel scaling, feature layer) is its record in
`backbone_specs.py`. The properties below read those records.

Dropout (`dropout`, default 0) is applied, in training only, to the pooled CNN features before the
concept layer, to the word embeddings, and to the LSTM outputs before the word logits. The bridge of
the feature variants reads the pooled features before dropout.
"""

import dataclasses
import json
from typing import Any, Optional

from s_cnn_rnn import errors
from s_cnn_rnn.models import backbone_specs
from s_cnn_rnn.models import variants

VARIANTS = variants.NAMES
BACKBONES = backbone_specs.NAMES
LSTM_ACTIVATIONS = ("tanh", "relu")
PREPROCESSING_MODES = backbone_specs.PIXEL_SCALINGS


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
    # T7 "Fix": the backbone is not trained (BatchNorm in inference mode); the concept layer, tag MLP
    # and decoder are.
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
        if self.use_tags and not self.variant_record.accepts_tags:
            accepting = tuple(name for name, record in variants.VARIANTS.items() if record.accepts_tags)
            raise ModelConfigError(
                f"use_tags needs the concept prediction layer as the image embedding (variants "
                f"{accepting}); variant {self.variant!r} would ignore the tags")

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
            minimum = self.backbone_spec.min_image_size
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
        if weights == "imagenet" and not self.backbone_spec.has_imagenet_weights:
            raise ModelConfigError(
                f"{self.backbone} has no ImageNet weights: use --backbone_weights=none (or a .weights.h5 "
                f"path saved from a {self.backbone} backbone)")
        expected = self.backbone_spec.pixel_scaling
        if weights != "none" and self.preprocessing_mode != expected:
            raise ModelConfigError(
                f"{self.backbone} with pretrained weights expects {expected!r} image preprocessing, "
                f"got preprocessing={self.preprocessing!r}; drop the override or use "
                "--backbone_weights=none")
        spec = self.backbone_spec
        if (weights == "imagenet" and spec.feature_layer != backbone_specs.POOLED
                and self.resolved_image_size != spec.default_image_size):
            raise ModelConfigError(
                f"{self.backbone}'s ImageNet {spec.feature_layer} layer needs {spec.default_image_size} px images, "
                f"got image_size={self.image_size}; drop --image_size, or use --backbone_weights=none "
                f"(or a pooled backbone such as vgg16_pool5)")

    # ----------------------------------------------------------------------------- derived values
    @property
    def variant_record(self) -> variants.Variant:
        """What this variant is (`variants.py`)."""
        return variants.get(self.variant)

    @property
    def backbone_spec(self) -> backbone_specs.BackboneSpec:
        """What this backbone is (`backbone_specs.py`)."""
        return backbone_specs.get(self.backbone)

    @property
    def resolved_image_size(self) -> int:
        """The square input side in pixels."""
        return self.image_size or self.backbone_spec.default_image_size

    @property
    def preprocessing_mode(self) -> str:
        """The `image_preprocessing` pixel scaling the input images must arrive in ("tf" | "caffe")."""
        return self.preprocessing or self.backbone_spec.pixel_scaling

    @property
    def has_concept_loss(self) -> bool:
        """Whether the model has a concept layer trained with `L_u` (V1, V2, V4, V5)."""
        return self.variant_record.concept_loss

    @property
    def has_decoder(self) -> bool:
        """Whether there is an LSTM decoder (all but cnn_logistic)."""
        return self.variant_record.has_decoder

    @property
    def bridge_input(self) -> Optional[str]:
        """What the bridge reads: "concepts" (ŝ, V1/V2), "features" (V3, V4, V6), None (V5)."""
        return self.variant_record.embedding

    @property
    def bridge_mode(self) -> Optional[str]:
        """"initial_state" (V1, V2, V4, V6), "step_zero_input" (V3) or None (V5)."""
        return self.variant_record.bridge

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
