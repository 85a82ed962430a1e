"""The tag MLP: noisy user tags -> concept logits (side information, M8), a functional model.

The paper pretrains "a multiple layer perceptron (single 256 neuron hidden layer and ReLU
activation) to predict the true [labels] given the noisy metadata" and sums its predictions with the
image model's. We sum LOGITS (see `concept_cnn.py`), so this model returns logits; pretraining it
alone is binary cross-entropy of `sigmoid(tag_mlp(tags))` against the labels.
"""

import keras

NAME = "tag_mlp"
HIDDEN = "tag_hidden"
LOGITS = "tag_logits"


def build_tag_mlp(num_tags: int, num_concepts: int, hidden_units: int = 256) -> keras.Model:
    """`tags [B, num_tags] multi-hot -> concept logits [B, k]` (float32 even under mixed precision).

    Args:
      num_tags: width of the tag multi-hot.
      num_concepts: k, the width of the output logits.
      hidden_units: the hidden ReLU layer (256 in the paper).

    Returns:
      A functional `keras.Model` named "tag_mlp" with the Dense layers "tag_hidden" and "tag_logits".

    Example:
      >>> build_tag_mlp(num_tags=10, num_concepts=6, hidden_units=8)(keras.ops.zeros([2, 10])).shape
      TensorShape([2, 6])
    """
    tags = keras.Input((num_tags,), name="tags")
    hidden = keras.layers.Dense(hidden_units, activation="relu", name=HIDDEN)(tags)
    # float32 output: logits feed a sigmoid and a cross-entropy.
    logits = keras.layers.Dense(num_concepts, dtype="float32", name=LOGITS)(hidden)
    return keras.Model(tags, logits, name=NAME)


def checkpoint_layout(tag_mlp: keras.Model) -> dict:
    """The tag MLP's layers under their checkpoint names ("hidden", "logits": kept since the
    checkpoints of the layer-subclass version, so those still restore)."""
    return {"hidden": tag_mlp.get_layer(HIDDEN), "logits": tag_mlp.get_layer(LOGITS)}
