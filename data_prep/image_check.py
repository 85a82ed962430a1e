"""The image check: every image is fully decoded once, and stored as a JPEG the pipeline reads.

It runs in the converter's worker processes. A file that cannot be used raises
`BadImageError` whose text is the short reason the converter records as a skip.

- An RGB or greyscale JPEG is kept byte for byte (no second lossy encoding).
- Any other decodable image (a PNG under a .jpg name, CMYK JPEG, palette, RGBA, 16-bit)
  is converted to 8-bit RGB (transparency over white) and re-encoded as JPEG.
- Pixels are kept as stored: the EXIF orientation tag is NOT applied, which is also what
  `tf.io.decode_jpeg` does with the kept bytes, so training and serving see the same pixels.
"""

import contextlib
import io

import numpy as np
from PIL import Image, ImageFile

# JPEG modes the input pipeline decodes as they are (it asks tf.io.decode_jpeg for 3 channels).
_KEPT_JPEG_MODES = ("RGB", "L")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class BadImageError(Exception):
    """An image that cannot be used; `str(error)` is the short reason ("missing file", ...)."""


@contextlib.contextmanager
def _truncated_images_rejected():
    """Makes PIL raise on truncated data, whatever another module set globally."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _decode_fully(data: bytes) -> Image.Image:
    """Opens and fully decodes `data`; raises BadImageError with the reason otherwise."""
    with _truncated_images_rejected():
        try:
            image = Image.open(io.BytesIO(data))
        except Image.UnidentifiedImageError:
            raise BadImageError("not an image file") from None
        except Image.DecompressionBombError as error:
            raise BadImageError(f"image too large: {error}") from None
        except Exception as error:  # PIL's header parsers raise many types on corrupt data
            raise BadImageError(f"truncated or corrupt image: {error}") from None
        try:
            image.load()
        except Image.DecompressionBombError as error:
            raise BadImageError(f"image too large: {error}") from None
        except Exception as error:  # OSError("image file is truncated"), SyntaxError, ...
            raise BadImageError(f"truncated or corrupt image: {error}") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB pixels of any PIL image; 16-bit values are scaled, alpha is laid over white."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)  # [height, width], 0..65535
        image = Image.fromarray(np.clip(values * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def jpeg_from_bytes(data: bytes, quality: int = 95) -> tuple[bytes, int, int]:
    """Checks encoded image bytes and returns them as a JPEG the pipeline can decode.

    Args:
      data: the encoded image (any format PIL reads).
      quality: JPEG quality for images that must be re-encoded.

    Returns:
      (jpeg_bytes, height, width) of the stored image.

    Raises:
      BadImageError: empty, not an image, truncated or corrupt.
    """
    if not data:
        raise BadImageError("empty file")
    image = _decode_fully(data)
    if image.format == "JPEG" and image.mode in _KEPT_JPEG_MODES:
        return data, image.height, image.width
    rgb = _to_rgb(image)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue(), rgb.height, rgb.width


def load_image_as_jpeg(path: str | None, quality: int = 95) -> tuple[bytes, int, int]:
    """Reads and fully decodes one image file; returns it as JPEG bytes and its size.

    Args:
      path: the image file; None (no image known for the item) counts as a missing file.
      quality: JPEG quality for images that must be re-encoded (not RGB/grey JPEG).

    Returns:
      (jpeg_bytes, height, width).

    Raises:
      BadImageError: "missing file", "empty file", "not an image file",
        "truncated or corrupt image: ...", "image too large: ...", "unreadable file: ...".
    """
    if path is None:
        raise BadImageError("missing file")
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise BadImageError("missing file") from None
    except OSError as error:
        raise BadImageError(f"unreadable file: {error.strerror or error}") from None
    return jpeg_from_bytes(data, quality)
