"""Decoding: encoded bytes → HxWx3 uint8 RGB, by one stated policy.

Policy (recorded in every manifest as ``DECODE_POLICY``):

- EXIF orientation is applied (the image is rotated/flipped as a viewer shows it).
- Alpha (RGBA, LA, PA, P with transparency) is discarded, keeping the stored colour values —
  what ``PIL.Image.convert("RGB")`` does, and so what pytorch-fid, clean-fid and torchmetrics
  users get.
- Grayscale (1, L, I, F) is replicated to three channels. 16-bit and 32-bit integer images are
  scaled to 8 bits by ``round(v / 257)`` (16-bit full range), never clipped at 255.
- CMYK, YCbCr, LAB and other modes go through Pillow's ``convert("RGB")``; embedded ICC profiles
  are not applied.
- Images above ``MAX_PIXELS`` (Pillow's decompression-bomb limit, 89.5 megapixels) are refused.
- Truncated, zero-byte or non-image files raise :class:`ImageDecodeError` naming the file.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genmetrics.errors import ImageDecodeError

MAX_PIXELS = 89_478_485
DECODE_POLICY = "exif-transpose; alpha-dropped; gray-replicated; 16bit/257; pil-convert-rgb; no-icc"


def pil_to_rgb_array(img: Image.Image, where: str = "image") -> np.ndarray:
    """Convert an opened PIL image to HxWx3 uint8 by the policy above."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit samples (Pillow opens 16-bit PNG/TIFF grayscale as I;16 or I): full range 65535.
        arr = np.asarray(img).astype(np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=-1))
    if mode != "RGB":
        if mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageDecodeError(where, f"unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr)


def decode_image(data: bytes | np.ndarray, where: str) -> np.ndarray:
    """Decode one image (or pass an in-memory array through) to HxWx3 uint8 RGB."""
    if isinstance(data, np.ndarray):
        return data
    if not data:
        raise ImageDecodeError(where, "empty file (0 bytes); remove it or regenerate it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageDecodeError(
                        where, f"{w}x{h} exceeds the {MAX_PIXELS}-pixel limit (decompression bomb)"
                    )
                img.load()
                return pil_to_rgb_array(img, where)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(where, f"refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(where, "not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(where, f"unreadable or truncated image ({exc})") from None
