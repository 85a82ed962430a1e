"""The S-CNN-RNN model and its baselines as Keras 3 functional graphs; no training code here.

`build_model(ModelConfig(...))` builds any variant (table in `config.py`); `builder.py` lists the
graphs it holds.
"""

from s_cnn_rnn.models.backbones import BackboneWeightsError, build_backbone
from s_cnn_rnn.models.builder import SCnnRnnModel, build_model
from s_cnn_rnn.models.concept_cnn import ConceptCNN, build_concept_cnn, build_unary_model
from s_cnn_rnn.models.config import ModelConfig, ModelConfigError
from s_cnn_rnn.models.decoder import CaptionDecoder
from s_cnn_rnn.models.tag_mlp import build_tag_mlp

__all__ = [
    "BackboneWeightsError",
    "CaptionDecoder",
    "ConceptCNN",
    "ModelConfig",
    "ModelConfigError",
    "SCnnRnnModel",
    "build_backbone",
    "build_concept_cnn",
    "build_model",
    "build_tag_mlp",
    "build_unary_model",
]
