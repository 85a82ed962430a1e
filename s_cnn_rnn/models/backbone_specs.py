"""The image backbones, one record each: sizes, pixel scaling, feature layer, how to build it.

Plain data (no Keras, no TensorFlow): `ModelConfig` reads the defaults and limits here,
`backbones.build_backbone` builds from the record, and the input pipeline, evaluation,
prediction and serving take the image size and pixel scaling from `ModelConfig`
(`resolved_image_size`, `preprocessing_mode`), never from a backbone name.

Pixel scalings (`image_preprocessing.scale_pixels`): "tf" = [-1, 1]; "caffe" = RGB -> BGR minus
the ImageNet channel means (keras.applications.vgg16.preprocess_input).

Adding a backbone: append one `BackboneSpec` to `_BACKBONES` (a keras.applications model needs
nothing else); tests/test_variants.py builds every record and checks its feature width.
"""

import dataclasses
from typing import Optional

PIXEL_SCALINGS = ("tf", "caffe")
# `feature_layer` value for "global average of the last convolutional map" (keras.applications
# `include_top=False, pooling="avg"`; our small CNN's own "avg_pool" layer).
POOLED = "avg_pool"


class BackboneSpecError(ValueError):
    """Unknown backbone name."""


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One image CNN.

    Attributes:
      name: the `--backbone` value.
      default_image_size: square input side when `ModelConfig.image_size` is None.
      min_image_size: the smallest side it accepts (keras.applications refuses smaller
        inputs; small_cnn has four stride-2 stages at most).
      pixel_scaling: what its pretrained weights expect, one of `PIXEL_SCALINGS`.
      feature_layer: the layer whose output is the feature vector `[B, F]` (the NIC/RIA
        embedding and the concept layer's input): `POOLED`, or a layer name of the
        keras.applications model built with its top (e.g. VGG16's "fc2").
      feature_width: F; None when a ModelConfig field sets it (small_cnn: 4 x small_cnn_width).
      keras_application: the `keras.applications` constructor ("InceptionV3"); None builds our
        small CNN (`backbones._small_cnn`).
      has_imagenet_weights: `backbone_weights="imagenet"` can be asked for.
    """

    name: str
    default_image_size: int
    min_image_size: int
    pixel_scaling: str
    feature_layer: str
    feature_width: Optional[int]
    keras_application: Optional[str]
    has_imagenet_weights: bool

    def __post_init__(self):
        if self.pixel_scaling not in PIXEL_SCALINGS:
            raise BackboneSpecError(f"backbone {self.name!r}: pixel_scaling must be one of {PIXEL_SCALINGS}")
        if not 0 < self.min_image_size <= self.default_image_size:
            raise BackboneSpecError(f"backbone {self.name!r}: needs 0 < min_image_size <= default_image_size")
        if self.has_imagenet_weights and self.keras_application is None:
            raise BackboneSpecError(f"backbone {self.name!r}: ImageNet weights come from keras.applications")


_BACKBONES = (
    BackboneSpec(name="inception_v3", default_image_size=299, min_image_size=75, pixel_scaling="tf",
                 feature_layer=POOLED, feature_width=2048, keras_application="InceptionV3",
                 has_imagenet_weights=True),
    # The paper's VGG16: the concept layer reads FC7 ("fc2", 4,096-d) of the ImageNet model with its
    # top (134M parameters at 224 px); at other sizes fc1's input width changes with the image.
    BackboneSpec(name="vgg16", default_image_size=224, min_image_size=32, pixel_scaling="caffe",
                 feature_layer="fc2", feature_width=4096, keras_application="VGG16", has_imagenet_weights=True),
    # The lighter option: pool5 averaged (512-d, 14.7M parameters), no FC layers.
    BackboneSpec(name="vgg16_pool5", default_image_size=224, min_image_size=32, pixel_scaling="caffe",
                 feature_layer=POOLED, feature_width=512, keras_application="VGG16", has_imagenet_weights=True),
    BackboneSpec(name="small_cnn", default_image_size=96, min_image_size=16, pixel_scaling="tf",
                 feature_layer=POOLED, feature_width=None, keras_application=None, has_imagenet_weights=False),
)
BACKBONES = {spec.name: spec for spec in _BACKBONES}
NAMES = tuple(BACKBONES)


def get(name: str) -> BackboneSpec:
    """The record of a `--backbone` value; BackboneSpecError naming the known ones otherwise."""
    if name not in BACKBONES:
        raise BackboneSpecError(f"unknown backbone {name!r}; expected one of {list(BACKBONES)}")
    return BACKBONES[name]
