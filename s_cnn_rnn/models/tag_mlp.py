"""`TagMLP`: noisy user tags -> concept logits (side information, M8).

The paper pretrains "a multiple layer perceptron (single 256 neuron hidden layer and ReLU
activation) to predict the true [labels] given the noisy metadata" and sums its predictions with the
image model's. We sum LOGITS (see `concept_cnn.py`), so this layer returns logits; pretraining it
alone is binary cross-entropy of `sigmoid(tag_mlp(tags))` against the labels.
"""

import keras


class TagMLP(keras.layers.Layer):
    """`tags [B, num_tags] multi-hot -> concept logits [B, k]` (float32 even under mixed precision).

    Args:
      num_concepts: k, the width of the output logits.
      hidden_units: the hidden ReLU layer (256 in the paper).

    Example:
      >>> mlp = TagMLP(num_concepts=6, hidden_units=8)
      >>> mlp(keras.ops.zeros([2, 10])).shape
      TensorShape([2, 6])
    """

    def __init__(self, num_concepts: int, hidden_units: int = 256, **kwargs):
        kwargs.setdefault("name", "tag_mlp")
        super().__init__(**kwargs)
        self.num_concepts = num_concepts
        self.hidden_units = hidden_units
        self.hidden = keras.layers.Dense(hidden_units, activation="relu", name="tag_hidden")
        # float32 output: logits feed a sigmoid and a cross-entropy.
        self.logits = keras.layers.Dense(num_concepts, dtype="float32", name="tag_logits")

    def build(self, tags_shape):
        self.hidden.build(tags_shape)
        self.logits.build((*tags_shape[:-1], self.hidden_units))

    def call(self, tags):
        """Returns tag concept logits `[B, k]` float32 for `tags [B, num_tags]`."""
        return self.logits(self.hidden(tags))

    def get_config(self):
        config = super().get_config()
        config.update(num_concepts=self.num_concepts, hidden_units=self.hidden_units)
        return config
