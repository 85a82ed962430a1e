"""Image backbones: `images [B, S, S, 3] -> features [B, F]`, built from their records.

What each backbone is (sizes, pixel scaling, feature layer and width, keras.applications
constructor) is its `BackboneSpec` in `backbone_specs.py`; this module only builds one:

* a keras.applications model (`spec.keras_application`): with `feature_layer=POOLED`,
  `include_top=False, pooling="avg"` (InceptionV3 F = 2048, vgg16_pool5 F = 512); with a layer
  name, the model with its top, cut at that layer (vgg16: "fc2" = the paper's FC7, F = 4096).
* `small_cnn` (F = 4 * width): our own four conv-BN-ReLU blocks and a global average pool,
  ~130k parameters at width 32, for CPU tests and the 96-pixel demo.

Images arrive already scaled by `s_cnn_rnn.image_preprocessing` (the spec's pixel scaling, or
the ModelConfig's override); the backbones do no preprocessing of their own.
"""

import os
import warnings
from typing import Optional

import keras

from s_cnn_rnn import errors
from s_cnn_rnn.models import backbone_specs

BACKBONE_NAME = "backbone"

# (channels as a multiple of the width, stride) per small_cnn block.
_SMALL_CNN_BLOCKS = ((1, 2), (2, 2), (2, 1), (4, 2))


class BackboneWeightsError(errors.UserError, RuntimeError):
    """The requested backbone weights could not be obtained or do not fit the backbone."""


def build_backbone(name: str, weights: str = "none", image_size: Optional[int] = None,
                   width: int = 32) -> keras.Model:
    """Builds a backbone that maps preprocessed images to pooled features.

    Args:
      name: "inception_v3" | "vgg16" | "small_cnn".
      weights: "imagenet" (keras.applications download), "none" (random init) or the path to a
        `.weights.h5` file saved from the same backbone (e.g. from
        `keras.applications.InceptionV3(include_top=False, weights="imagenet").save_weights(...)`),
        or a keras.applications `..._notop.h5` file.
      image_size: square input side; None -> the backbone's default (299 / 224 / 96).
      width: channels of the first small_cnn block (ignored by the other backbones).

    Returns:
      A `keras.Model` named "backbone": `[B, S, S, 3] float -> [B, F]`, with `F` its
      `output_shape[-1]`.

    Raises:
      BackboneWeightsError: the ImageNet download failed, the weights file is missing, or it
        does not match the backbone.
      ValueError: unknown name, image too small, or "imagenet" for small_cnn.
    """
    spec = backbone_specs.get(name)
    size = image_size or spec.default_image_size
    if size < spec.min_image_size:
        raise ValueError(f"image_size={size} is too small for {name} (minimum {spec.min_image_size})")
    input_shape = (size, size, 3)
    if weights == "imagenet" and not spec.has_imagenet_weights:
        raise ValueError(
            f"{name} has no ImageNet weights: use --backbone_weights=none or a .weights.h5 "
            f"path saved from a {name} backbone")
    if weights == "imagenet" and spec.feature_layer != backbone_specs.POOLED and size != spec.default_image_size:
        raise ValueError(f"{name}'s ImageNet {spec.feature_layer} layer needs {spec.default_image_size} px images, "
                         f"got {size}: use image_size={spec.default_image_size} or a pooled backbone")
    if spec.keras_application is None:
        model = _small_cnn(input_shape, width)
    else:
        model = _keras_application(spec, input_shape, weights)
    if weights not in ("imagenet", "none"):
        _load_weights_file(model, name, weights)
    return model


def _keras_application(spec: backbone_specs.BackboneSpec, input_shape: tuple, weights: str) -> keras.Model:
    """The spec's keras.applications model, cut at its feature layer; a failed download is a clear error."""
    constructor = getattr(keras.applications, spec.keras_application)
    pooled = spec.feature_layer == backbone_specs.POOLED
    arguments = dict(include_top=not pooled, weights="imagenet" if weights == "imagenet" else None,
                     input_shape=input_shape)
    if pooled:  # Named "backbone" here already: checkpoints address the backbone's variables by it.
        arguments.update(pooling="avg", name=BACKBONE_NAME)
    try:
        model = constructor(**arguments)
    except Exception as error:  # keras raises a bare Exception for a failed URL fetch.
        if weights != "imagenet":
            raise
        raise BackboneWeightsError(
            f"could not load the ImageNet weights of {spec.name}: the keras.applications download "
            f"failed ({error}). Without internet, use --backbone_weights=none (random init) or "
            f"--backbone_weights=PATH, where PATH is a .weights.h5 file saved on a machine with "
            f"internet by keras.applications.{spec.keras_application}(include_top={not pooled}, "
            f"weights='imagenet').save_weights(PATH); keras' own cached ~/.keras/models/*{'_notop' if pooled else ''}.h5 "
            f"file from such a machine works as PATH too") from error
    if pooled:
        return model
    return keras.Model(model.inputs, model.get_layer(spec.feature_layer).output, name=BACKBONE_NAME)


def _load_weights_file(model: keras.Model, name: str, path: str) -> None:
    if not os.path.isfile(path):
        raise BackboneWeightsError(
            f"backbone weights file {path} does not exist; pass --backbone_weights=none or the path "
            f"of a .weights.h5 file saved from a {name} backbone")
    problem = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except Exception as error:  # Keras raises ValueError/KeyError/OSError by kind of mismatch.
            problem = error
    # Keras only warns when parts of the model find nothing in the file (they keep random weights).
    skipped = [str(warning.message) for warning in caught
               if "skipping" in str(warning.message).lower()]
    if problem is None and skipped:
        problem = skipped[0]
    if problem is not None:
        raise BackboneWeightsError(
            f"backbone weights file {path} does not fit the {name} backbone "
            f"(input {model.input_shape[1:]}, {len(model.weights)} variables): {problem}. Save it "
            f"from the same architecture (for small_cnn: the same small_cnn_width)") from (
                problem if isinstance(problem, Exception) else None)
    for warning in caught:  # Pass the unrelated ones on.
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _small_cnn(input_shape: tuple, width: int) -> keras.Model:
    """Four conv(3x3)-BN-ReLU blocks and a global average pool: `[B, S, S, 3] -> [B, 4 * width]`."""
    images = keras.Input(shape=input_shape, name="images")
    hidden = images
    for index, (multiple, stride) in enumerate(_SMALL_CNN_BLOCKS, start=1):
        # No conv bias: the BatchNorm right after it has its own offset.
        hidden = keras.layers.Conv2D(width * multiple, 3, strides=stride, padding="same",
                                     use_bias=False, name=f"block{index}_conv")(hidden)
        hidden = keras.layers.BatchNormalization(name=f"block{index}_bn")(hidden)
        hidden = keras.layers.ReLU(name=f"block{index}_relu")(hidden)
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(hidden)
    return keras.Model(images, features, name=BACKBONE_NAME)
