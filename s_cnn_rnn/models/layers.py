"""The one layer Keras lacks for our graphs: a zero LSTM state sized by a batch.

A functional graph cannot call `keras.ops.zeros((batch, units))` on a symbolic tensor (the batch
size is unknown at build time), so `ZeroState` reads it from the tensor it is given.
"""

import keras


class ZeroState(keras.layers.Layer):
    """`x [B, ...] -> zeros [B, units]` in the layer's compute dtype (no weights).

    The S-CNN-RNN bridge's zero cell state c0 (M2) and NIC's zero state before its image step.

    Args:
      units: width of the state (the LSTM size H).

    Example:
      >>> ZeroState(4)(keras.ops.ones([2, 6])).shape
      (2, 4)
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, reference):
        return keras.ops.zeros((keras.ops.shape(reference)[0], self.units), dtype=self.compute_dtype)

    def compute_output_shape(self, reference_shape):
        return (reference_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
