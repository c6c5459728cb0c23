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


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = arr.shape
    rows = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16bit_rgb_and_gray_follow_the_same_high_byte_rule():
    """Pillow keeps the high byte of 16-bit RGB; 16-bit gray follows the same documented rule
    (before: gray used round(v/257), one level away from RGB for e.g. v = 400)."""
    values = np.array([0, 255, 256, 400, 383, 25700, 32896, 65280, 65535])
    rgb = np.stack([values, values[::-1], values], axis=-1)[None].astype(np.uint16)
    out_rgb = decode_image(_png16(rgb), "rgb16.png")
    assert out_rgb[0].tolist() == (rgb[0].astype(int) >> 8).tolist()
    out_gray = decode_image(_encode(Image.fromarray(values[None].astype(np.uint16))), "gray16.png")
    assert out_gray[0, :, 0].tolist() == out_rgb[0, :, 0].tolist()
    assert "16bit-high-byte" in decode_mod.DECODE_POLICY


@pytest.mark.parametrize("size", [(1, 2000), (2000, 1), (101, 1)])
def test_absurd_aspect_ratio_refused_from_the_header(size):
    data = _encode(Image.new("RGB", size))
    with pytest.raises(ImageDecodeError, match="aspect ratio over 100:1"):
        decode_image(data, "strip.png")


def test_header_checked_before_pixels_are_decoded(monkeypatch):
    """A refused image is never decoded: load() is not called."""
    from PIL import ImageFile

    data = _encode(Image.new("RGB", (1, 500)))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("pixels decoded"))
    with pytest.raises(ImageDecodeError, match="aspect ratio"):
        decode_image(data, "strip.png")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_nonfinite_pixels_is_refused(bad):
    """A float (mode F) TIFF with NaN/inf used to become some grey level and be scored."""
    arr = np.full((6, 5), 100.0, np.float32)
    arr[2, 3] = bad
    with pytest.raises(ImageDecodeError, match="NaN or infinite"):
        decode_image(_encode(Image.fromarray(arr, mode="F"), "TIFF"), "x.tif")
    arr[2, 3] = 300.0  # finite values out of range are still clipped, as documented
    out = decode_image(_encode(Image.fromarray(arr, mode="F"), "TIFF"), "x.tif")
    assert out[2, 3, 0] == 255 and out[0, 0, 0] == 100


def test_open_image_reads_an_open_file_lazily(tmp_path):
    """A 64 MB file named .png of zeros: refused after its first bytes, never read whole."""
    path = tmp_path / "zeros.png"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    with open(path, "rb") as f:
        with pytest.raises(ImageDecodeError, match="not an image"):
            decode_mod.open_image(f, "zeros.png")
        assert f.tell() < 1 << 20
