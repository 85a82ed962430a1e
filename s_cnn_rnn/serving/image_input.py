"""Encoded image bytes -> the model's input batch, in pure TF (shared by predict and export).

Evaluation reads JPEG records with `image_preprocessing.decode_and_preprocess` (central
square crop, decoded straight from the crop window, then resized and scaled). Here a JPEG
takes exactly that path, and any other format `tf.io.decode_image` reads (PNG, GIF's first
frame, BMP, WebP) is decoded whole and given the same view by `image_preprocessing.preprocess`,
so served and evaluated predictions agree.
"""

import tensorflow as tf

from s_cnn_rnn import image_preprocessing

# (format name, byte offset, magic bytes): what `is_supported_image` recognises.
_MAGIC = (
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("GIF", 0, b"GIF8"),
    ("BMP", 0, b"BM"),
    ("WebP", 8, b"WEBP"),  # after "RIFF" + a 4-byte size
)
_HEADER_BYTES = max(offset + len(magic) for _, offset, magic in _MAGIC)
SUPPORTED_FORMATS = tuple(name for name, _, _ in _MAGIC)
_FORMATS_TEXT = ", ".join(SUPPORTED_FORMATS[:-1]) + " or " + SUPPORTED_FORMATS[-1]


def is_supported_image(encoded) -> tf.Tensor:
    """bool `[...]`: whether each string starts like a JPEG, PNG, GIF, BMP or WebP file.

    A cheap header check (not a full decode): it lets the caller name the bad element
    before the decoder fails on it. Truncated or corrupt data behind a valid header is
    still rejected by the decoder itself (InvalidArgumentError).

    Args:
      encoded: string tensor of any shape.
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    # substr fails on a start past the end: pad, so that short (even empty) strings just don't match.
    padded = tf.strings.join([encoded, "\0" * _HEADER_BYTES])
    checks = [
        tf.equal(tf.strings.substr(padded, offset, len(magic)), magic) for _, offset, magic in _MAGIC
    ]
    return tf.reduce_any(tf.stack(checks, axis=-1), axis=-1)


def decode_and_preprocess_image(encoded, image_size: int, mode: str) -> tf.Tensor:
    """One encoded image -> float32 `[S, S, 3]`, the evaluation view.

    Args:
      encoded: scalar string, the bytes of a JPEG (evaluation's exact decoder path) or of any
        other format `tf.io.decode_image` reads (decoded to RGB, first frame of a GIF).
      image_size: output side S in pixels (`ModelConfig.resolved_image_size`).
      mode: pixel scaling "tf" | "caffe" (`ModelConfig.preprocessing_mode`).
    """

    def jpeg():
        return image_preprocessing.decode_and_preprocess(encoded, image_size, mode)

    def other():
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
        return image_preprocessing.preprocess(image, image_size, mode)

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def assert_supported_images(encoded, element_name: str):
    """An op that fails (InvalidArgumentError) naming the first element that is no image.

    Args:
      encoded: string `[B]`.
      element_name: what the caller calls one element, "{}" standing for its index, for the
        message (e.g. "image_bytes[{}]").

    Returns:
      The assertion op, for `tf.control_dependencies`.
    """
    supported = is_supported_image(encoded)  # [B]
    # A sentinel at position B keeps argmin and gather defined for an empty batch.
    padded_supported = tf.concat([supported, [False]], axis=0)  # [B + 1]
    first_bad = tf.argmin(tf.cast(padded_supported, tf.int32), output_type=tf.int32)
    # The length, not the bytes: the message must stay valid UTF-8 for every caller.
    bad_length = tf.strings.length(tf.gather(tf.concat([encoded, [""]], axis=0), first_bad))
    message = tf.strings.format(
        element_name + " is not a " + _FORMATS_TEXT + " image ({} bytes with no image header); "
        "send the raw bytes of an image file", (first_bad, bad_length),
    )
    return tf.debugging.Assert(tf.reduce_all(supported), [message], name="assert_supported_images")


def images_from_bytes(encoded, image_size: int, mode: str, element_name: str = "image_bytes[{}]") -> tf.Tensor:
    """A batch of encoded images -> float32 `[B, S, S, 3]` for the model.

    Args:
      encoded: string `[B]`, one encoded image each.
      image_size: output side S in pixels (`ModelConfig.resolved_image_size`).
      mode: pixel scaling "tf" | "caffe" (`ModelConfig.preprocessing_mode`).
      element_name: what the caller calls one element ("{}": its index), for the error message.

    Raises:
      tf.errors.InvalidArgumentError (when run): an element is not an image
        ("image_bytes[i] is not a JPEG, PNG, ... image"), or is a corrupt one (the decoder's
        message).
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    with tf.control_dependencies([assert_supported_images(encoded, element_name)]):
        encoded = tf.identity(encoded)
    return tf.map_fn(
        lambda one: decode_and_preprocess_image(one, image_size, mode),
        encoded,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
    )


def model_image_settings(config) -> tuple[int, str]:
    """`(image side, pixel scaling mode)` to preprocess for a `ModelConfig`, as training and evaluation do."""
    return config.resolved_image_size, config.preprocessing_mode
