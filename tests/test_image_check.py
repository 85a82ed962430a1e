"""Tests for data_prep.image_check: every bad file is rejected with its reason, every
decodable one comes back as a JPEG, and RGB/grey JPEGs are kept byte for byte."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from data_prep.image_check import BadImageError, jpeg_from_bytes, load_image_as_jpeg

HEIGHT, WIDTH = 24, 40  # not square, so a height/width swap shows


def _gradient_rgb() -> np.ndarray:
    """[HEIGHT, WIDTH, 3] uint8 smooth image (JPEG keeps it close)."""
    rows = np.linspace(0, 255, HEIGHT)[:, None]
    cols = np.linspace(0, 255, WIDTH)[None, :]
    channels = [rows + 0 * cols, 0 * rows + cols, np.full((HEIGHT, WIDTH), 90.0)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _decode(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    assert image.format == "JPEG"
    return image


def _reason(path) -> str:
    with pytest.raises(BadImageError) as caught:
        load_image_as_jpeg(path)
    return str(caught.value)


@pytest.fixture
def rgb_jpeg() -> bytes:
    return _encode(Image.fromarray(_gradient_rgb()), "JPEG", quality=90)


def test_missing_file_none_path_and_directory(tmp_path):
    assert _reason(str(tmp_path / "absent.jpg")) == "missing file"
    assert _reason(None) == "missing file"
    assert _reason(str(tmp_path)) == "missing file"


def test_empty_file(tmp_path):
    assert _reason(_write(tmp_path, "empty.jpg", b"")) == "empty file"


def test_not_an_image(tmp_path):
    path = _write(tmp_path, "notes.jpg", b"this is a text file, not a picture\n" * 20)
    assert _reason(path) == "not an image file"


@pytest.mark.parametrize("kept_fraction", [0.98, 0.75, 0.5, 0.25])
def test_truncated_jpeg(tmp_path, rgb_jpeg, kept_fraction):
    path = _write(tmp_path, "truncated.jpg", rgb_jpeg[: int(len(rgb_jpeg) * kept_fraction)])
    assert _reason(path).startswith("truncated or corrupt image: ")


def test_corrupt_jpeg_data(tmp_path, rgb_jpeg):
    corrupt = bytearray(rgb_jpeg)
    corrupt[400:420] = bytes(20)  # zeros inside the entropy-coded data
    assert _reason(_write(tmp_path, "corrupt.jpg", bytes(corrupt))).startswith(
        "truncated or corrupt image: "
    )


def test_truncated_png(tmp_path):
    png = _encode(Image.fromarray(_gradient_rgb()), "PNG")
    assert _reason(_write(tmp_path, "cut.png", png[: len(png) // 2])).startswith(
        "truncated or corrupt image: "
    )


def test_truncation_rejected_even_if_pil_set_to_allow_it(tmp_path, rgb_jpeg, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = _write(tmp_path, "truncated.jpg", rgb_jpeg[: len(rgb_jpeg) // 2])
    assert _reason(path).startswith("truncated or corrupt image: ")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the global setting is restored


def test_rgb_jpeg_kept_byte_for_byte(tmp_path, rgb_jpeg):
    jpeg, height, width = load_image_as_jpeg(_write(tmp_path, "ok.jpg", rgb_jpeg))
    assert jpeg == rgb_jpeg
    assert (height, width) == (HEIGHT, WIDTH)


def test_greyscale_jpeg_kept_byte_for_byte(tmp_path):
    grey = _encode(Image.fromarray(_gradient_rgb()[..., 0]), "JPEG")
    jpeg, height, width = load_image_as_jpeg(_write(tmp_path, "grey.jpg", grey))
    assert jpeg == grey
    assert (height, width) == (HEIGHT, WIDTH)


def test_exif_orientation_not_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _encode(Image.fromarray(_gradient_rgb()), "JPEG", exif=exif.tobytes())
    jpeg, height, width = load_image_as_jpeg(_write(tmp_path, "rotated.jpg", data))
    assert jpeg == data
    assert (height, width) == (HEIGHT, WIDTH)  # as stored, not as displayed


def test_png_named_jpg_is_reencoded(tmp_path):
    pixels = _gradient_rgb()
    path = _write(tmp_path, "really_a_png.jpg", _encode(Image.fromarray(pixels), "PNG"))
    jpeg, height, width = load_image_as_jpeg(path)
    decoded = _decode(jpeg)
    assert decoded.mode == "RGB" and (height, width) == (HEIGHT, WIDTH)
    assert np.abs(np.asarray(decoded, np.int16) - pixels).mean() < 4


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.fromarray(_gradient_rgb()).convert("CMYK")
    data = _encode(cmyk, "JPEG", quality=95)
    jpeg, height, width = load_image_as_jpeg(_write(tmp_path, "cmyk.jpg", data))
    decoded = _decode(jpeg)
    assert decoded.mode == "RGB" and (height, width) == (HEIGHT, WIDTH)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.int16)
    assert np.abs(np.asarray(decoded, np.int16) - expected).mean() < 4


def test_palette_gif_becomes_rgb(tmp_path):
    palette = Image.fromarray(_gradient_rgb()).convert("P", palette=Image.Palette.ADAPTIVE)
    jpeg, height, width = load_image_as_jpeg(_write(tmp_path, "p.gif", _encode(palette, "GIF")))
    assert _decode(jpeg).mode == "RGB" and (height, width) == (HEIGHT, WIDTH)


def test_rgba_transparency_is_laid_over_white(tmp_path):
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere ...
    rgba[:, : WIDTH // 2, 3] = 255  # ... opaque on the left, fully transparent on the right
    data = _encode(Image.fromarray(rgba, "RGBA"), "PNG")
    jpeg, _, _ = load_image_as_jpeg(_write(tmp_path, "alpha.png", data))
    pixels = np.asarray(_decode(jpeg), np.int16)
    assert np.abs(pixels[:, :4] - [255, 0, 0]).max() < 16  # left: red
    assert np.abs(pixels[:, -4:] - [255, 255, 255]).max() < 16  # right: white


def test_sixteen_bit_png_is_scaled_to_eight_bit(tmp_path):
    values = np.zeros((HEIGHT, WIDTH), np.uint16)
    values[:, WIDTH // 2 :] = 65535
    path = _write(tmp_path, "deep.png", _encode(Image.fromarray(values), "PNG"))
    assert Image.open(path).mode.startswith("I")
    jpeg, height, width = load_image_as_jpeg(path)
    pixels = np.asarray(_decode(jpeg), np.int16)
    assert (height, width) == (HEIGHT, WIDTH)
    assert pixels[:, :4].max() < 16 and pixels[:, -4:].min() > 239


def test_reencoding_honours_quality():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    png = _encode(Image.fromarray(noise), "PNG")
    small, _, _ = jpeg_from_bytes(png, quality=20)
    large, _, _ = jpeg_from_bytes(png, quality=95)
    assert len(small) < len(large)
