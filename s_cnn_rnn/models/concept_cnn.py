"""The unary model, images (and tags) -> k concept probabilities `ŝ` (Sec. 3.2, M1, M8).

    image [B, S, S, 3] -> backbone -> features [B, F] -> feature_dropout -> concept_layer -> image logits [B, k]
    tags [B, num_tags] -> tag_mlp ----------------------------------------------------> tag logits [B, k]
    concept_logits = image logits + tag logits;  concept_probs = ŝ = sigmoid(concept_logits)

`ConceptCNN` holds the shared layers (and their checkpoint layout); `build_unary_model` wires them
into a functional `keras.Model` named "unary_model". The whole model (`builder.py`) calls that same
graph, so stage 1 and the joint stage train the same weights.

The paper combines the image and the tag model "by summing their predictions" (Sec. 4.1). We sum
the LOGITS, so that `ŝ` stays a probability in [0, 1] and `L_u` stays a plain binary cross-entropy;
summing the two sigmoid outputs would give values up to 2. This is our reading of the paper.

Variants without a concept loss (nic_f, ria) have no concept layer: only "features" comes out.
"""

from typing import Optional

import keras

from s_cnn_rnn.models import backbones
from s_cnn_rnn.models import config as config_lib
from s_cnn_rnn.models import layout as layout_lib
from s_cnn_rnn.models import tag_mlp as tag_mlp_lib


class ConceptCNN:
    """The unary model's layers: backbone, optional concept layer, optional tag MLP.

    A plain container (the model is the functional graph of `build_unary_model`).

    Args:
      backbone: a model `[B, S, S, 3] -> [B, F]` (see `backbones.build_backbone`).
      num_concepts: k; None for no concept layer (nic_f, ria).
      num_tags: width of the tag multi-hot; 0 for no tag MLP.
      tag_hidden_units: hidden width of the tag MLP.
      dropout: rate on the pooled features before the concept layer (training only).
    """

    def __init__(self, backbone: keras.Model, num_concepts: Optional[int], num_tags: int = 0,
                 tag_hidden_units: int = 256, dropout: float = 0.0):
        if num_tags and not num_concepts:
            raise ValueError("a tag MLP needs a concept layer to add its logits to (num_concepts)")
        self.backbone = backbone
        self.num_concepts = num_concepts
        self.num_tags = num_tags
        self.feature_dropout = keras.layers.Dropout(dropout, name="feature_dropout")
        # float32 output even under mixed precision: the logits feed a sigmoid cross-entropy.
        self.concept_layer = (
            keras.layers.Dense(num_concepts, dtype="float32", name="concept_layer")
            if num_concepts else None)
        self.tag_mlp = (tag_mlp_lib.build_tag_mlp(num_tags, num_concepts, tag_hidden_units)
                        if num_tags else None)

    @property
    def feature_dim(self) -> int:
        """F, the width of the pooled features."""
        return int(self.backbone.output_shape[-1])

    @property
    def image_size(self) -> int:
        """S, the square input side of the backbone."""
        return int(self.backbone.input_shape[1])

    def checkpoint_layout(self) -> dict:
        """The layers under their checkpoint names ("backbone", "feature_dropout", "concept_layer",
        "tag_mlp": {"hidden", "logits"}); absent parts are left out."""
        layout = {"backbone": self.backbone, "feature_dropout": self.feature_dropout}
        if self.concept_layer is not None:
            layout["concept_layer"] = self.concept_layer
        if self.tag_mlp is not None:
            layout["tag_mlp"] = tag_mlp_lib.checkpoint_layout(self.tag_mlp)
        return layout

    @property
    def trainable_variables(self) -> list:
        """What stage 1 updates, in checkpoint-layout order (the optimizer's slot order)."""
        return layout_lib.variables_of(self.checkpoint_layout(), trainable_only=True)

    @property
    def weights(self) -> list:
        """Every variable (BatchNorm statistics included), in checkpoint-layout order."""
        return layout_lib.variables_of(self.checkpoint_layout(), trainable_only=False)

    def set_trainable(self, backbone: bool, concept_layer: bool = True) -> None:
        """Freezes or unfreezes the image path; the tag MLP is left as it is.

        `backbone=False` is the paper's "Fix" (T7: the CNN subnet keeps its ImageNet weights, the
        prediction layer above it learns). A frozen backbone also runs its BatchNorm layers in
        inference mode (Keras semantics).
        """
        self.backbone.trainable = backbone
        if self.concept_layer is not None:
            self.concept_layer.trainable = concept_layer

    def head_variables(self) -> list:
        """Trainable variables of the prediction head: concept layer and tag MLP, not the backbone.

        The first phase of the CNN pretraining trains only these ("first only the prediction
        layer", T4).
        """
        layout = self.checkpoint_layout()
        return layout_lib.variables_of(
            {name: layout[name] for name in ("concept_layer", "tag_mlp") if name in layout},
            trainable_only=True)


def unary_inputs(cnn: ConceptCNN) -> dict:
    """Fresh symbolic inputs of the unary model: "image" (+ "tags" with a tag MLP)."""
    inputs = {"image": keras.Input((cnn.image_size, cnn.image_size, 3), name="image")}
    if cnn.tag_mlp is not None:
        inputs["tags"] = keras.Input((cnn.num_tags,), name="tags")
    return inputs


def build_unary_model(cnn: ConceptCNN) -> keras.Model:
    """The unary model as a functional graph of `cnn`'s layers.

    Inputs: {"image": `[B, S, S, 3]` float32, preprocessed} (+ "tags" `[B, num_tags]` float
    multi-hot when `cnn` has a tag MLP).

    Outputs: dict with "features" `[B, F]` and, when there is a concept layer,
    "image_concept_logits", "concept_logits", "concept_probs" (all `[B, k]` float32); with tags also
    "tag_concept_logits" `[B, k]`.
    """
    inputs = unary_inputs(cnn)
    features = cnn.backbone(inputs["image"])
    outputs = {"features": features}
    if cnn.concept_layer is not None:
        image_logits = cnn.concept_layer(cnn.feature_dropout(features))
        outputs["image_concept_logits"] = concept_logits = image_logits
        if cnn.tag_mlp is not None:
            outputs["tag_concept_logits"] = tag_logits = cnn.tag_mlp(inputs["tags"])
            concept_logits = keras.layers.Add(dtype="float32", name="concept_logits")([image_logits, tag_logits])
        outputs["concept_logits"] = concept_logits
        outputs["concept_probs"] = keras.layers.Activation(
            "sigmoid", dtype="float32", name="concept_probs")(concept_logits)
    return keras.Model(inputs, outputs, name="unary_model")


def build_concept_cnn(config: config_lib.ModelConfig) -> ConceptCNN:
    """The unary model's layers `config` asks for (backbone built and weights loaded)."""
    backbone = backbones.build_backbone(
        config.backbone, config.backbone_weights, config.resolved_image_size,
        width=config.small_cnn_width)
    concept_cnn = ConceptCNN(
        backbone,
        num_concepts=config.num_concepts if config.has_concept_loss else None,
        num_tags=config.num_tags if config.use_tags else 0,
        tag_hidden_units=config.tag_hidden_units,
        dropout=config.dropout)
    if config.freeze_cnn:
        concept_cnn.set_trainable(backbone=False)
    return concept_cnn
