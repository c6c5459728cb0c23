"""Decoding: encoded bytes → HxWx3 uint8 RGB, by one stated policy.

Policy (recorded in every manifest as ``DECODE_POLICY``):

- EXIF orientation is applied (the image is rotated/flipped as a viewer shows it).
- Alpha (RGBA, LA, PA, P with transparency) is discarded, keeping the stored colour values —
  what ``PIL.Image.convert("RGB")`` does, and so what pytorch-fid, clean-fid and torchmetrics
  users get.
- Grayscale (1, L, I, F) is replicated to three channels.
- 16-bit samples keep their high byte (``v >> 8``), whatever the colour type: that is what
  Pillow does when it opens a 16-bit RGB or RGBA PNG, so 16-bit grayscale follows the same
  rule (Pillow's own ``convert`` would clip 16-bit grayscale at 255 instead). 32-bit integer
  grayscale (mode ``I``) is taken as 16-bit; float grayscale (``F``) is rounded and clipped.
- CMYK, YCbCr, LAB and other modes go through Pillow's ``convert("RGB")``; embedded ICC profiles
  are not applied.
- Size limits, checked from the header before any pixel is decoded: at most ``MAX_PIXELS``
  (Pillow's decompression-bomb limit, 89.5 megapixels), at least 1×1, and an aspect ratio of at
  most ``MAX_ASPECT_RATIO``:1 (a 1×2,000,000 strip is no photograph, and resizing it to a
  square would be meaningless).
- Truncated, zero-byte or non-image files raise :class:`ImageDecodeError` naming the file.
- Encoded files are read lazily from disk (never whole); where bytes must be held (an archive
  member), at most :data:`MAX_ENCODED_BYTES`, and no more than :func:`max_encoded_bytes`
  of the size its header declares.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genmetrics.errors import ImageDecodeError

MAX_PIXELS = 89_478_485
MAX_ASPECT_RATIO = 100
DECODE_POLICY = (
    "exif-transpose; alpha-dropped; gray-replicated; 16bit-high-byte; float-nonfinite-refused; "
    f"pil-convert-rgb; no-icc; max-pixels {MAX_PIXELS}; max-aspect {MAX_ASPECT_RATIO}"
)
MAX_BYTES_PER_PIXEL = 8
"""The most an uncompressed encoding stores per pixel (16-bit RGBA; float gray is 4)."""
METADATA_BYTES = 16 << 20
"""Room for metadata (EXIF, ICC, XMP, text chunks) beside the pixels of one encoded image."""
MAX_ENCODED_BYTES = MAX_PIXELS * MAX_BYTES_PER_PIXEL + METADATA_BYTES
"""No encoded image within the pixel limit needs more bytes (≈ 732 MB): a larger file or
archive member is refused before it is read."""
DECODE_REVISION = "3"
"""Changes whenever decoding could give other pixels for the same file (part of cache keys)."""


# We refuse images over MAX_PIXELS from the header ourselves (same limit as Pillow's), so
# Pillow's own warning for them would only repeat that refusal.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_current = threading.local()


@contextlib.contextmanager
def decoding(where: str) -> Iterator[None]:
    """Mark ``where`` as the file this thread decodes, so that a warning Pillow raises
    meanwhile (e.g. a corrupt EXIF block) can be shown with the file's name."""
    previous = getattr(_current, "where", None)
    _current.where = where
    try:
        yield
    finally:
        _current.where = previous


def decoding_location() -> str | None:
    """The file this thread is decoding, if any (see :func:`decoding`)."""
    return getattr(_current, "where", None)


def check_dimensions(width: int, height: int, where: str) -> None:
    """Refuse empty, oversized and absurdly elongated images (see the module policy)."""
    if width < 1 or height < 1:
        raise ImageDecodeError(where, f"image is {width}x{height}: it has no pixels")
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            where,
            f"{width}x{height} exceeds the {MAX_PIXELS}-pixel limit (decompression bomb); "
            "downscale it first",
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageDecodeError(
            where,
            f"{width}x{height} has an aspect ratio over {MAX_ASPECT_RATIO}:1; crop or pad it "
            "to a reasonable shape first",
        )


def max_encoded_bytes(width: int, height: int) -> int:
    """The most bytes an encoded ``width`` x ``height`` image can need (uncompressed pixels
    plus metadata): more is no image of that size but padding, or a bomb."""
    return int(width) * int(height) * MAX_BYTES_PER_PIXEL + METADATA_BYTES


def _high_byte(arr: np.ndarray) -> np.ndarray:
    return np.clip(arr.astype(np.int64) >> 8, 0, 255).astype(np.uint8)


def pil_to_rgb_array(img: Image.Image, where: str = "image") -> np.ndarray:
    """Convert an opened PIL image to HxWx3 uint8 by the policy above."""
    try:
        with decoding(where):  # in place: without a rotation Pillow would copy the image
            ImageOps.exif_transpose(img, in_place=True)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = _high_byte(np.asarray(img))
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ImageDecodeError(
                where, f"float image with {bad} NaN or infinite pixel value(s); fix or re-export it"
            )
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1))
    if mode != "RGB":
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert("RGB")
    arr = _to_array(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageDecodeError(where, f"unexpected decoded shape {arr.shape}")
    return arr


STRIP_BYTES = 16 << 20
"""Large images are copied out of Pillow in strips of about this size: ``np.asarray`` on a
whole image makes a temporary ``bytes`` copy first, doubling the peak for a 9000×9000 photo."""


def _to_array(img: Image.Image) -> np.ndarray:
    """An RGB PIL image as a new HxWx3 uint8 array, without a whole-image temporary."""
    width, height = img.size
    if width * height * 3 <= STRIP_BYTES:
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    out = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, STRIP_BYTES // (width * 3))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        out[top:bottom] = np.asarray(img.crop((0, top, width, bottom)), dtype=np.uint8)
    return out


def decode_image(data: bytes | np.ndarray, where: str) -> np.ndarray:
    """Decode one image (or pass an in-memory array through) to HxWx3 uint8 RGB."""
    if isinstance(data, np.ndarray):
        return data
    return load_rgb(open_image(data, where), where)


def open_image(data: bytes | str | BinaryIO, where: str) -> Image.Image:
    """Open encoded bytes, a file by its path or an open binary file (read lazily, never
    whole into memory), and check the size from the header alone: no pixel is decoded yet."""
    if isinstance(data, bytes) and not data:
        raise ImageDecodeError(where, "empty file (0 bytes); remove it or regenerate it")
    try:
        with decoding(where):
            img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)  # type: ignore[arg-type]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(where, f"refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        if (os.path.getsize(data) if isinstance(data, str) else _size_of(data)) == 0:
            raise ImageDecodeError(where, "empty file (0 bytes); remove it or regenerate it") from None
        raise ImageDecodeError(where, "not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(where, f"unreadable or truncated image ({exc})") from None
    try:
        check_dimensions(*img.size, where)
    except ImageDecodeError:
        img.close()
        raise
    return img


def _size_of(data: bytes | BinaryIO) -> int:
    if isinstance(data, bytes):
        return len(data)
    try:
        return os.fstat(data.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return -1


def load_rgb(img: Image.Image, where: str) -> np.ndarray:
    """Decode the pixels of an image from :func:`open_image` by the policy above, then close
    it: only the returned array stays in memory."""
    try:
        with decoding(where):
            img.load()
            return pil_to_rgb_array(img, where)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(where, f"refused as a decompression bomb ({exc})") from None
    except MemoryError:
        raise ImageDecodeError(where, f"{img.width}x{img.height}: out of memory while decoding") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageDecodeError(where, f"unreadable or truncated image ({exc})") from None
    finally:
        img.close()
