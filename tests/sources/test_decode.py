import io

import numpy as np
import pytest
from PIL import Image

from genmetrics.errors import ImageDecodeError
from genmetrics.sources import decode as decode_mod
from genmetrics.sources.decode import decode_image


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgba_drops_alpha_keeps_colour():
    arr = np.zeros((4, 5, 4), np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = 0
    out = decode_image(_encode(Image.fromarray(arr, "RGBA")), "x.png")
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert (out[..., 0] == 200).all()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "1"])
def test_modes_become_rgb(mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (6, 7, 3), dtype=np.uint8))
    img = rgb.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode_image(_encode(img, fmt), f"x.{fmt.lower()}")
    assert out.shape == (6, 7, 3)
    if mode in ("L", "1"):
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16bit_gray_is_scaled_not_clipped():
    arr = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    out = decode_image(_encode(Image.fromarray(arr)), "x.png")
    assert out[0, :, 0].tolist() == [0, 100, 255]


def test_exif_orientation_applied():
    arr = np.zeros((4, 8, 3), np.uint8)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    out = decode_image(_encode(img, "JPEG", exif=exif), "x.jpg")
    assert out.shape == (8, 4, 3)


def test_truncated_zero_byte_and_non_image():
    good = _encode(Image.fromarray(np.zeros((64, 64, 3), np.uint8)), "JPEG")
    with pytest.raises(ImageDecodeError, match="truncated|unreadable"):
        decode_image(good[: len(good) // 2], "cut.jpg")
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"", "zero.png")
    with pytest.raises(ImageDecodeError, match="not an image"):
        decode_image(b"hello world" * 10, "text.png")


def test_decompression_bomb_refused(monkeypatch):
    monkeypatch.setattr(decode_mod, "MAX_PIXELS", 100)
    data = _encode(Image.fromarray(np.zeros((20, 20, 3), np.uint8)))
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(data, "big.png")
