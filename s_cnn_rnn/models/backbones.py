"""Image backbones: `images [B, S, S, 3] -> pooled features [B, F]`.

* `inception_v3` (F = 2048) and `vgg16` (F = 512): keras.applications with `include_top=False,
  pooling="avg"`. Deviation: for VGG16 the paper's multi-label experiments read FC7 (4096); we use
  the global average of pool5 instead, which keeps one code path for both applications and needs no
  4096x25088 FC6 matrix that the `include_top=False` weights do not contain.
* `small_cnn` (F = 4 * width): our own four conv-BN-ReLU blocks and a global average pool,
  ~130k parameters at width 32, for CPU tests and the 96-pixel demo.

Images arrive already scaled by `s_cnn_rnn.image_preprocessing` ("tf" [-1, 1] for inception_v3 and
small_cnn, "caffe" for vgg16); the backbones do no preprocessing of their own.
"""

import os
import warnings
from typing import Callable, Optional

import keras

from s_cnn_rnn import errors
from s_cnn_rnn.models import config as config_lib

BACKBONE_NAME = "backbone"

# keras.applications constructors by backbone name.
_KERAS_APPLICATIONS: dict[str, Callable[..., keras.Model]] = {
    "inception_v3": keras.applications.InceptionV3,
    "vgg16": keras.applications.VGG16,
}

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
    if name not in config_lib.BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {list(config_lib.BACKBONES)}")
    size = image_size or config_lib.BACKBONE_DEFAULT_IMAGE_SIZE[name]
    minimum = config_lib.BACKBONE_MIN_IMAGE_SIZE[name]
    if size < minimum:
        raise ValueError(f"image_size={size} is too small for {name} (minimum {minimum})")
    input_shape = (size, size, 3)
    if name == "small_cnn":
        if weights == "imagenet":
            raise ValueError(
                "small_cnn has no ImageNet weights: use --backbone_weights=none or a .weights.h5 "
                "path saved from a small_cnn backbone")
        model = _small_cnn(input_shape, width)
    elif weights == "imagenet":
        model = _imagenet_application(name, input_shape)
    else:
        model = _KERAS_APPLICATIONS[name](
            include_top=False, weights=None, input_shape=input_shape, pooling="avg",
            name=BACKBONE_NAME)
    if weights not in ("imagenet", "none"):
        _load_weights_file(model, name, weights)
    return model


def _imagenet_application(name: str, input_shape: tuple) -> keras.Model:
    """keras.applications with ImageNet weights, turning a failed download into a clear error."""
    try:
        return _KERAS_APPLICATIONS[name](
            include_top=False, weights="imagenet", input_shape=input_shape, pooling="avg",
            name=BACKBONE_NAME)
    except Exception as error:  # keras raises a bare Exception for a failed URL fetch.
        application = {"inception_v3": "InceptionV3", "vgg16": "VGG16"}[name]
        raise BackboneWeightsError(
            f"could not load the ImageNet weights of {name}: the keras.applications download "
            f"failed ({error}). Without internet, use --backbone_weights=none (random init) or "
            f"--backbone_weights=PATH, where PATH is a .weights.h5 file saved on a machine with "
            f"internet by keras.applications.{application}(include_top=False, "
            f"weights='imagenet').save_weights(PATH); keras' own cached ~/.keras/models/*_notop.h5 "
            f"file from such a machine works as PATH too") from error


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
