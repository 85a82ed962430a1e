"""Checkpoint layouts: the shared layers of a model part as nested dicts of stable names.

`tf.train.Checkpoint(concept_cnn={"backbone": ..., "concept_layer": ...})` tracks dict keys like
attribute names, so a layout fixes the checkpoint's variable paths (`concept_cnn/concept_layer/
_kernel`, `decoder/lstm_cell/kernel`, ...) independently of how the functional graphs are
composed. The names are those of the layer-subclass models this package had before its functional
graphs, so their checkpoints restore unchanged. The dict order is also the variables' order, which
the optimizer's slots follow (a resumed run must see the same order).
"""

from typing import Iterator

import keras


def layers_of(layout: dict) -> Iterator[keras.layers.Layer]:
    """Each layer of a layout once, depth first in dict order."""
    seen = set()
    for value in layout.values():
        for layer in (layers_of(value) if isinstance(value, dict) else (value,)):
            if id(layer) not in seen:
                seen.add(id(layer))
                yield layer


def variables_of(layout: dict, trainable_only: bool) -> list:
    """The layout's variables once each, in layout order.

    Args:
      layout: nested dict of layers.
      trainable_only: only the variables an optimizer may update (a frozen layer has none).
    """
    variables, seen = [], set()
    for layer in layers_of(layout):
        for variable in (layer.trainable_weights if trainable_only else layer.weights):
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    return variables
