"""Image resizing, augmentation and pixel scaling, in pure TF (runs inside tf.data).

Every function takes the output size and the pixel scaling mode themselves, never a backbone
name: callers read both from the model's config (`ModelConfig.resolved_image_size` and
`.preprocessing_mode`), so training, evaluation, prediction and serving scale alike.

Geometry: the evaluation view is an aspect-preserving resize of the shorter side to
`image_size` followed by a central square crop. We compute it the other way round (crop the
central `min(H, W)` square first, then resize it), which is the same view but resizes fewer
pixels and lets `decode_and_preprocess` decode only the crop window of the JPEG. Resizing is
bilinear without antialiasing (antialias=True costs ~3x the resize time, measured).

Augmentation (training only, `augment=True`): a random crop covering 50-100% of the image
area with aspect ratio in [3/4, 4/3], resized to `image_size`; mild colour jitter
(brightness, contrast, saturation); and an optional horizontal flip. The flip is off unless
asked for (`flip=True`): captions and labels such as "left"/"right" would become wrong.
All random ops are stateless, driven by one `[2]` seed, so a seeded pipeline reproduces
its augmentations exactly.
"""

import numbers

import tensorflow as tf

# Pixel scaling modes:
#   "tf":    scale to [-1, 1] (InceptionV3 and our small CNN).
#   "caffe": RGB -> BGR, subtract the ImageNet channel means, no scaling
#            (as keras.applications.vgg16.preprocess_input).
MODES = ("tf", "caffe")

# ImageNet channel means in BGR order, on the [0, 255] scale ("caffe" mode).
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

# Augmentation strengths: mild, because captions describe the whole scene.
_CROP_AREA_RANGE = (0.5, 1.0)
_CROP_ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
_BRIGHTNESS_DELTA = 0.1  # on the [0, 1] scale
_CONTRAST_RANGE = (0.9, 1.1)
_SATURATION_RANGE = (0.9, 1.1)


def _as_seed(seed) -> tf.Tensor:
    """An int, a `[2]` tensor or None -> a `[2]` int64 seed for the stateless ops.

    None draws a fresh seed from the global generator (not reproducible, by request).
    """
    if seed is None:
        return tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return tf.cast(seed, tf.int64)


def crop_window(image_shape, training: bool, augment: bool, seed=None) -> tf.Tensor:
    """The region of the image that becomes the model input.

    Args:
      image_shape: `[3]` (or `[2]`) int tensor, the image's `[height, width(, channels)]`.
      training: with `augment`, sample a random crop; otherwise take the central square.
      augment: see `training`.
      seed: `[2]` seed for the random crop (None: a fresh random one).

    Returns:
      `[4]` int32 `[offset_y, offset_x, crop_height, crop_width]`, the layout of
      `tf.io.decode_and_crop_jpeg`'s `crop_window`.
    """
    height = tf.cast(image_shape[0], tf.int32)
    width = tf.cast(image_shape[1], tf.int32)
    if training and augment:
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.stack([height, width, 3]),
            bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=_as_seed(seed),
            min_object_covered=0.0,
            aspect_ratio_range=_CROP_ASPECT_RATIO_RANGE,
            area_range=_CROP_AREA_RANGE,
            max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        return tf.stack([begin[0], begin[1], size[0], size[1]])
    side = tf.minimum(height, width)
    return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def _augment_colour_and_flip(image, seed, flip: bool) -> tf.Tensor:
    """Colour jitter (+ optional flip) of a float `[H, W, 3]` image on the [0, 1] scale."""
    seeds = tf.random.experimental.stateless_split(_as_seed(seed), num=4)
    image = tf.image.stateless_random_brightness(image, _BRIGHTNESS_DELTA, seed=seeds[0])
    image = tf.image.stateless_random_contrast(image, *_CONTRAST_RANGE, seed=seeds[1])
    image = tf.image.stateless_random_saturation(image, *_SATURATION_RANGE, seed=seeds[2])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[3])
    return tf.clip_by_value(image, 0.0, 1.0)


def scale_pixels(image_0_255: tf.Tensor, mode: str) -> tf.Tensor:
    """Maps float RGB pixels on the [0, 255] scale to the model's input scale.

    Args:
      image_0_255: float32 `[..., 3]` RGB.
      mode: "tf" -> [-1, 1]; "caffe" -> BGR minus the ImageNet means.
    """
    if mode == "tf":
        return image_0_255 / 127.5 - 1.0
    if mode == "caffe":
        # RGB -> BGR as a 1x1 convolution (a channel permutation) plus the mean as a bias: one
        # vectorised pass, where `image[..., ::-1]` is a slow strided copy (measured on a
        # 224x224 image: 0.2 ms against 1.6 ms).
        dtype = image_0_255.dtype
        permutation = tf.constant([[[[0, 0, 1], [0, 1, 0], [1, 0, 0]]]], dtype)  # [1, 1, in, out]
        pixels = tf.reshape(image_0_255, [1, -1, 1, 3])
        bgr = tf.nn.conv2d(pixels, permutation, strides=1, padding="VALID")
        bgr = tf.nn.bias_add(bgr, -tf.constant(_CAFFE_BGR_MEAN, dtype))
        return tf.ensure_shape(tf.reshape(bgr, tf.shape(image_0_255)), image_0_255.shape)
    raise ValueError(f"unknown preprocessing mode {mode!r}; expected one of {MODES}")


def _finish(cropped, mode, image_size, training, augment, flip, seed) -> tf.Tensor:
    """Resize a cropped uint8 `[h, w, 3]` image, augment it, scale it: float32 `[S, S, 3]`."""
    # Casting first is faster than resizing uint8 (measured: bench/input_pipeline.py).
    image = tf.image.resize(tf.cast(cropped, tf.float32), [image_size, image_size], method="bilinear")
    if training and augment:
        # Colour jitter uses a seed independent of the crop's.
        colour_seed = tf.random.experimental.stateless_fold_in(_as_seed(seed), 1)
        image = _augment_colour_and_flip(image / 255.0, colour_seed, flip) * 255.0
    image = scale_pixels(image, mode)
    return tf.ensure_shape(image, [image_size, image_size, 3])


def _check_arguments(image_size, mode, training, augment, flip) -> None:
    """ValueError on a bad size, mode or combination."""
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise ValueError(f"image_size must be a positive int (ModelConfig.resolved_image_size), got {image_size!r}")
    if mode not in MODES:
        raise ValueError(f"unknown preprocessing mode {mode!r}; expected one of {MODES} "
                         "(ModelConfig.preprocessing_mode)")
    if augment and not training:
        raise ValueError("augment=True needs training=True (evaluation views are never augmented)")
    if flip and not augment:
        raise ValueError("flip=True is an augmentation: it needs training=True and augment=True")


def preprocess(
    image_uint8,
    image_size: int,
    mode: str,
    training: bool = False,
    augment: bool = False,
    flip: bool = False,
    seed=None,
) -> tf.Tensor:
    """A decoded image -> the model's input.

    Args:
      image_uint8: uint8 `[H, W, 3]` RGB.
      image_size: output side S in pixels (`ModelConfig.resolved_image_size`).
      mode: pixel scaling "tf" | "caffe" (`ModelConfig.preprocessing_mode`).
      training: with `augment`, random crop/scale and colour jitter; otherwise the
        central-crop evaluation view.
      augment: see `training`.
      flip: also flip horizontally at random (needs `augment`); off by default because
        captions mention "left" and "right".
      seed: int or `[2]` int tensor for the stateless random ops; None -> not reproducible.

    Returns:
      float32 `[S, S, 3]`.
    """
    _check_arguments(image_size, mode, training, augment, flip)
    image_uint8 = tf.convert_to_tensor(image_uint8)
    crop_seed = _as_seed(seed) if training and augment else None
    window = crop_window(tf.shape(image_uint8), training, augment, crop_seed)
    cropped = tf.image.crop_to_bounding_box(image_uint8, window[0], window[1], window[2], window[3])
    return _finish(cropped, mode, image_size, training, augment, flip, crop_seed)


def decode_and_preprocess(
    jpeg_bytes,
    image_size: int,
    mode: str,
    training: bool = False,
    augment: bool = False,
    flip: bool = False,
    seed=None,
) -> tf.Tensor:
    """JPEG bytes -> the model's input, decoding only the crop window.

    Same arguments and result as `preprocess` of the decoded image, except in the outermost
    pixel columns of the window, where the decoder's chroma upsampling sees no neighbour.
    It reads the image size from the JPEG header and decodes just the region it keeps (for
    a 640x480 COCO photo the central 480x480): a little cheaper than decoding everything
    (~3-5%: libjpeg still entropy-decodes every block) and no full-size copy to crop.

    Args:
      jpeg_bytes: scalar string tensor, a JPEG (grey or RGB; always decoded to RGB).
      image_size, mode, training, augment, flip, seed: as in `preprocess`.

    Returns:
      float32 `[S, S, 3]`.
    """
    _check_arguments(image_size, mode, training, augment, flip)
    crop_seed = _as_seed(seed) if training and augment else None
    window = crop_window(tf.image.extract_jpeg_shape(jpeg_bytes), training, augment, crop_seed)
    cropped = tf.io.decode_and_crop_jpeg(jpeg_bytes, window, channels=3)
    return _finish(cropped, mode, image_size, training, augment, flip, crop_seed)
