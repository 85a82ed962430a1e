"""The S-CNN-RNN model and its baselines as Keras 3 functional graphs; no training code here.

`build_model(ModelConfig(...))` builds any variant (records in `variants.py`, backbones in
`backbone_specs.py`); `builder.py` lists the
graphs it holds.

The names below are imported on first use (PEP 562), so that `s_cnn_rnn.models.variants`,
`.backbone_specs` and `.config` (plain data) can be imported without Keras and TensorFlow,
e.g. by s-cnn-rnn-reproduce.
"""

import importlib

# Exported name -> the submodule that defines it.
_EXPORTS = {
    "BackboneWeightsError": "backbones",
    "build_backbone": "backbones",
    "SCnnRnnModel": "builder",
    "build_model": "builder",
    "ConceptCNN": "concept_cnn",
    "build_concept_cnn": "concept_cnn",
    "ModelConfig": "config",
    "ModelConfigError": "config",
    "CaptionDecoder": "decoder",
    "build_unary_model": "concept_cnn",
    "build_tag_mlp": "tag_mlp",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
