"""Image preprocessing of the CLIP family, on HxWx3 uint8 RGB arrays, without torchvision.

* :func:`clip_preprocess` — OpenAI CLIP's ``Resize(n, BICUBIC)``, ``CenterCrop(n)``,
  ``ToTensor``, ``Normalize``: the shorter side becomes ``n`` (the longer one
  ``int(n * long / short)``, truncated, as torchvision computes it) with PIL's bicubic filter
  (what torchvision's Resize does to a PIL image: PIL filters are antialiased), then a centred
  ``n``×``n`` crop with ``top = int(round((h - n) / 2))``, values /255, normalised.
* :func:`hps_preprocess` — HPS v2's eval transform, open_clip's ``image_transform`` with
  ``resize_longest_max=True`` and ``fill=0``: open_clip's ``ResizeMaxSize`` scales the longer side
  to ``n`` (each side ``round(side * n / longest)``, Python rounding), with torchvision
  ``F.resize`` on the PIL image HPS passes in, so PIL bicubic, antialiased; it then pads to
  ``n``×``n`` with zeros, centred: ``pad // 2`` on the left/top and the rest on the right/bottom.
  Normalisation uses the OpenAI mean/std; the zero padding becomes ``-mean/std``. open_clip skips
  both resize and pad when the longer side already equals ``n``; here a non-square image of that
  size is still padded (open_clip would hand the model a non-square tensor and fail).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from genmetrics.errors import UserError

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _check(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(
            f"CLIP preprocessing takes an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}"
        )
    return image


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    pil = Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(pil)


def normalize(image: np.ndarray, mean=OPENAI_MEAN, std=OPENAI_STD) -> np.ndarray:
    """HxWx3 uint8 → 3xHxW float32: ``(x / 255 - mean) / std``, in float32 like torchvision."""
    x = image.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def resize_shortest_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """torchvision ``Resize(size)`` + ``CenterCrop(size)`` on a PIL image, as uint8 HxWx3."""
    h, w = _check(image).shape[:2]
    if h <= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    resized = _resize(image, new_h, new_w)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return resized[top : top + size, left : left + size]


def resize_longest_pad(image: np.ndarray, size: int, fill: int = 0) -> np.ndarray:
    """open_clip ``ResizeMaxSize(size, fill)`` on a PIL image, as uint8 ``size``×``size``×3."""
    h, w = _check(image).shape[:2]
    scale = size / float(max(h, w))
    new_h, new_w = round(h * scale), round(w * scale)
    resized = _resize(image, new_h, new_w)
    pad_h, pad_w = size - new_h, size - new_w
    out = np.full((size, size, 3), fill, dtype=np.uint8)
    out[pad_h // 2 : pad_h // 2 + new_h, pad_w // 2 : pad_w // 2 + new_w] = resized
    return out


def clip_preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """OpenAI CLIP preprocessing (224 or 336): 3×size×size float32."""
    return normalize(resize_shortest_center_crop(image, size))


def hps_preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """HPS v2 preprocessing (longest side to ``size``, zero-pad centred): 3×size×size float32."""
    return normalize(resize_longest_pad(image, size))
