"""Resize protocols for feature extractors that need a fixed input size (Inception: 299×299).

FID numbers differ between libraries mostly because of the resize. Each protocol maps an
HxWx3 uint8 image to a 3×S×S float32 array of pixel values in [0, 255] (no re-quantisation):

- ``clean`` (default): clean-fid's "clean" mode (Parmar et al. 2022): each channel as a float32
  Pillow image, bicubic (antialiased) resize to S×S, clipped to [0, 255].
- ``tf1``: TensorFlow 1 ``resize_bilinear`` with ``align_corners=False`` and no half-pixel
  centres (source coordinate = dst·in/out), as in the original TTUR FID graph and
  torch-fidelity; no antialiasing.
- ``pytorch-fid``: ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``
  without antialiasing, as pytorch-fid does (half-pixel centres). pytorch-fid then maps pixels
  with ``2·x/255 − 1`` where the TF graph uses ``(x − 128)/128``; this protocol scales its
  output by 256/255 so that the network's ``(x − 128)/128`` reproduces pytorch-fid exactly.

The aspect ratio is not preserved (all three protocols stretch), as in the reference tools.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from genmetrics.errors import UserError

ResizeFn = Callable[[np.ndarray, int], np.ndarray]


def resize_clean(image: np.ndarray, size: int) -> np.ndarray:
    """clean-fid "clean": per-channel float32 PIL bicubic resize, clipped to [0, 255]."""
    channels = []
    for c in range(3):
        plane = Image.fromarray(np.ascontiguousarray(image[:, :, c], dtype=np.float32), mode="F")
        plane = plane.resize((size, size), resample=Image.Resampling.BICUBIC)
        channels.append(np.asarray(plane, dtype=np.float32).clip(0, 255))
    return np.stack(channels, axis=0)


def _tf1_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    lo = np.floor(src).astype(np.int64)
    lo = np.minimum(lo, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (src - lo).astype(np.float32)
    return lo, hi, frac


def resize_tf1(image: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow-1 bilinear (align_corners=False, legacy coordinates), float32 math."""
    x = image.astype(np.float32)
    h, w = x.shape[:2]
    y0, y1, fy = _tf1_axis(h, size)
    x0, x1, fx = _tf1_axis(w, size)
    top = x[y0]
    bottom = x[y1]
    rows = top + (bottom - top) * fy[:, None, None]
    left = rows[:, x0]
    right = rows[:, x1]
    out = left + (right - left) * fx[None, :, None]
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def resize_pytorch_fid(image: np.ndarray, size: int) -> np.ndarray:
    """torch bilinear, align_corners=False, no antialias, scaled by 256/255 (pytorch-fid)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out[0].numpy() * np.float32(256.0 / 255.0)


RESIZE_PROTOCOLS: dict[str, ResizeFn] = {
    "clean": resize_clean,
    "tf1": resize_tf1,
    "pytorch-fid": resize_pytorch_fid,
}


def get_resize_protocol(name: str) -> ResizeFn:
    try:
        return RESIZE_PROTOCOLS[name]
    except KeyError:
        raise UserError(
            f"unknown protocol '{name}'; choose one of {', '.join(RESIZE_PROTOCOLS)}"
        ) from None
