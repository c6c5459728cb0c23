"""Image preprocessing of the CLIP family, on HxWx3 uint8 RGB arrays, without torchvision.

* :func:`clip_preprocess` — OpenAI CLIP's ``Resize(n, BICUBIC)``, ``CenterCrop(n)``,
  ``ToTensor``, ``Normalize``: the shorter side becomes ``n`` (the longer one
  ``int(n * long / short)``, truncated, as torchvision computes it) with PIL's bicubic filter
  (what torchvision's Resize does to a PIL image: PIL filters are antialiased), then a centred
  ``n``×``n`` crop with ``top = int(round((h - n) / 2))``, values /255, normalised.
* :func:`hps_preprocess` — the eval transform of the ``hpsv2`` 1.2.0 package, reproduced bit
  for bit: ``ToTensor`` first, then the longest side to ``n`` with torch's antialiased bicubic
  on the float tensor (torchvision ≥ 0.17 behaviour: no rounding, no clamping), centred zero
  padding, OpenAI normalisation. See its docstring for the one departure (a non-square image
  whose longest side is already ``n``, which hpsv2 itself cannot score).
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


def hps_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(new_h, new_w, top, left) of hpsv2's ``ResizeMaxSize``: each side ``round(side · s)``
    with ``s = size / max(h, w)`` (Python rounding), padding ``pad // 2`` on the top/left."""
    scale = size / float(max(height, width))
    new_h, new_w = round(height * scale), round(width * scale)
    return new_h, new_w, (size - new_h) // 2, (size - new_w) // 2


def clip_preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """OpenAI CLIP preprocessing (224 or 336): 3×size×size float32."""
    return normalize(resize_shortest_center_crop(image, size))


def hps_preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """HPS v2 preprocessing, bit for bit as the ``hpsv2`` 1.2.0 package: 3×size×size float32.

    hpsv2's eval transform is ``ToTensor`` (uint8 → float32 ``/ 255``), then its
    ``ResizeMaxSize`` on that float tensor — torchvision ``F.resize(..., BICUBIC)`` with the
    torchvision ≥ 0.17 default ``antialias=True``, i.e. ``torch.nn.functional.interpolate(
    mode="bicubic", align_corners=False, antialias=True)`` on float32 with no rounding and no
    clamping (torchvision only rounds/clamps uint8) — then zero padding (see
    :func:`hps_geometry`), then ``Normalize`` with the OpenAI mean/std (padding becomes
    ``-mean/std``). Channels are resized one at a time (the filter is separable per channel,
    the values are identical), so a large photo never has a whole float copy.

    When the longest side is already ``size`` hpsv2 neither resizes nor pads: a square
    ``size``×``size`` image is then passed through, as here; a non-square one would reach the
    ViT as a non-square tensor, which the model cannot take, so here it is padded centred like
    every other image (the only departure from hpsv2, where hpsv2 itself would fail).
    """
    import torch
    import torch.nn.functional as F

    h, w = _check(image).shape[:2]
    new_h, new_w, top, left = hps_geometry(h, w, size)
    out = np.zeros((3, size, size), dtype=np.float32)
    for c in range(3):
        plane = torch.from_numpy(np.ascontiguousarray(image[:, :, c])).to(torch.float32).div(255)
        if (new_h, new_w) != (h, w):
            plane = F.interpolate(
                plane[None, None], size=(new_h, new_w), mode="bicubic", align_corners=False,
                antialias=True,
            )[0, 0]
        out[c, top : top + new_h, left : left + new_w] = plane.numpy()
    mean = np.asarray(OPENAI_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(OPENAI_STD, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((out - mean) / std, dtype=np.float32)
