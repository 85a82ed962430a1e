"""`ConceptCNN`: the unary model, images (and tags) -> k concept probabilities `ŝ` (Sec. 3.2, M1, M8).

    images [B, S, S, 3] -> backbone -> features [B, F] -> dropout -> concept_layer -> image logits [B, k]
    tags [B, num_tags]  -> tag_mlp  ------------------------------------------------> tag logits [B, k]
    concept_logits = image logits + tag logits;  concept_probs = ŝ = sigmoid(concept_logits)

The paper combines the image and the tag model "by summing their predictions" (Sec. 4.1). We sum
the LOGITS, so that `ŝ` stays a probability in [0, 1] and `L_u` stays a plain binary cross-entropy;
summing the two sigmoid outputs would give values up to 2. This is our reading of the paper.

Variants without a concept loss (nic_f, ria) have no concept layer: only "features" comes out.
"""

from typing import Optional

import keras

from s_cnn_rnn.models import backbones
from s_cnn_rnn.models import config as config_lib
from s_cnn_rnn.models import tag_mlp as tag_mlp_lib


class ConceptCNN(keras.layers.Layer):
    """Backbone + optional concept layer + optional tag MLP.

    Args:
      backbone: a model `[B, S, S, 3] -> [B, F]` (see `backbones.build_backbone`).
      num_concepts: k; None for no concept layer (nic_f, ria).
      num_tags: width of the tag multi-hot; 0 for no tag MLP.
      tag_hidden_units: hidden width of the tag MLP.
      dropout: rate on the pooled features before the concept layer (training only).
    """

    def __init__(self, backbone: keras.Model, num_concepts: Optional[int], num_tags: int = 0,
                 tag_hidden_units: int = 256, dropout: float = 0.0, **kwargs):
        kwargs.setdefault("name", "concept_cnn")
        super().__init__(**kwargs)
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
        self.tag_mlp = (tag_mlp_lib.TagMLP(num_concepts, tag_hidden_units, name="tag_mlp")
                        if num_tags else None)

    @property
    def feature_dim(self) -> int:
        """F, the width of the pooled features."""
        return int(self.backbone.output_shape[-1])

    def set_trainable(self, backbone: bool, concept_layer: bool = True) -> None:
        """Freezes or unfreezes the image path; the tag MLP is left as it is.

        `backbone=False, concept_layer=False` is the paper's "Fix" (T7); `backbone=False` alone is
        the first phase of the captioning CNN pretraining ("first only the prediction layer", T4).
        A frozen backbone also runs its BatchNorm layers in inference mode (Keras semantics).
        """
        self.backbone.trainable = backbone
        if self.concept_layer is not None:
            self.concept_layer.trainable = concept_layer

    def head_variables(self) -> list:
        """Trainable variables of the prediction head: concept layer and tag MLP, not the backbone.

        The first phase of the CNN pretraining trains only these ("first only the prediction
        layer", T4); with the "Fix" variant (T7) the concept layer is frozen and only the tag MLP
        remains.
        """
        heads = [layer for layer in (self.concept_layer, self.tag_mlp) if layer is not None]
        return [variable for layer in heads for variable in layer.trainable_variables]

    def call(self, images, tags=None, training=False) -> dict:
        """Runs the unary model.

        Args:
          images: `[B, S, S, 3]` float, preprocessed for the backbone.
          tags: `[B, num_tags]` float multi-hot; required iff the model has a tag MLP.
          training: dropout and BatchNorm in training mode.

        Returns:
          dict with "features" `[B, F]` and, when there is a concept layer, "image_concept_logits",
          "concept_logits", "concept_probs" (all `[B, k]` float32); with tags also
          "tag_concept_logits" `[B, k]`.
        """
        features = self.backbone(images, training=training)
        outputs = {"features": features}
        if self.concept_layer is None:
            return outputs
        image_logits = self.concept_layer(self.feature_dropout(features, training=training))
        outputs["image_concept_logits"] = image_logits
        concept_logits = image_logits
        if self.tag_mlp is not None:
            if tags is None:
                raise ValueError("this ConceptCNN has a tag MLP (use_tags): pass the batch's 'tags'")
            tag_logits = self.tag_mlp(tags)
            outputs["tag_concept_logits"] = tag_logits
            concept_logits = image_logits + tag_logits
        outputs["concept_logits"] = concept_logits
        outputs["concept_probs"] = keras.ops.sigmoid(concept_logits)
        return outputs


def build_concept_cnn(config: config_lib.ModelConfig) -> ConceptCNN:
    """The unary model `config` asks for (backbone built and weights loaded; variables lazy)."""
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
        concept_cnn.set_trainable(backbone=False, concept_layer=False)
    return concept_cnn
