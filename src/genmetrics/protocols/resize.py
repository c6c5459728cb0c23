"""Resize protocols for feature extractors that need a fixed input size (Inception: 299×299).

FID numbers differ between libraries mostly because of the resize. Each protocol maps an
HxWx3 uint8 image to a 3×S×S float32 array of pixel values in [0, 255] (no re-quantisation):

- ``clean`` (default): clean-fid's "clean" mode (Parmar et al. 2022): each channel as a float32
  Pillow image, bicubic (antialiased) resize to S×S, clipped to [0, 255].
- ``tf1``: TensorFlow 1 ``resize_bilinear`` with ``align_corners=False`` and no half-pixel
  centres (source coordinate = dst·in/out in float32), as in the original TTUR FID graph;
  bit-exact with torch-fidelity's emulation; no antialiasing.
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
    """clean-fid "clean": per-channel float32 PIL bicubic resize, clipped to [0, 255].

    Each channel goes to Pillow as an 8-bit plane and is converted there to a float32 plane
    (``L`` → ``F`` is exact for integers), so only one float copy of one channel exists at a
    time; the values are those of clean-fid's ``fromarray(x.astype(float32), mode="F")``.
    """
    channels = []
    for c in range(3):
        plane = Image.fromarray(np.ascontiguousarray(image[:, :, c])).convert("F")
        plane = plane.resize((size, size), resample=Image.Resampling.BICUBIC)
        channels.append(np.asarray(plane, dtype=np.float32).clip(0, 255))
        del plane
    return np.stack(channels, axis=0)


def _tf1_grid(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1 legacy sample positions in float32: ``x = i · float32(n_in / n_out)``, the lower
    index by truncation, the upper one clamped to the last pixel, the fraction ``x − lo``."""
    grid = np.arange(n_out, dtype=np.float32) * np.float32(n_in / n_out)
    lo = grid.astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = grid - lo.astype(np.float32)
    return lo, hi, frac


def resize_tf1(image: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow-1 bilinear (``align_corners=False``, legacy coordinates), bit for bit as
    torch-fidelity's emulation: float32 positions, and float32 arithmetic in its order —
    along each row first (``a + (b − a)·dx``), then between the two rows (``… ·dy``).

    Only the (at most ``2·size``) source rows that are sampled are gathered, still as uint8,
    and only the sampled columns of those become float32: memory is O(size · width) bytes and
    O(size²) floats, whatever the image's shape.
    """
    h, w = image.shape[:2]
    y_lo, y_hi, dy = _tf1_grid(h, size)
    x_lo, x_hi, dx = _tf1_grid(w, size)
    rows = np.unique(np.concatenate([y_lo, y_hi]))
    sub = image[rows]
    left = sub[:, x_lo].astype(np.float32)
    right = sub[:, x_hi].astype(np.float32)
    along = left + (right - left) * dx[None, :, None]
    top = along[np.searchsorted(rows, y_lo)]
    bottom = along[np.searchsorted(rows, y_hi)]
    out = top + (bottom - top) * dy[:, None, None]
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def resize_pytorch_fid(image: np.ndarray, size: int) -> np.ndarray:
    """torch bilinear, align_corners=False, no antialias, scaled by 256/255 (pytorch-fid).

    Channels are independent under this filter, so they are resized one at a time: one
    float32 copy of one channel at most, instead of the whole image."""
    import torch
    import torch.nn.functional as F

    out = np.empty((3, size, size), dtype=np.float32)
    for c in range(3):
        plane = torch.from_numpy(np.ascontiguousarray(image[:, :, c], dtype=np.float32))[None, None]
        out[c] = F.interpolate(plane, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()
        del plane
    return out * np.float32(256.0 / 255.0)


PROTOCOL_REVISIONS: dict[str, int] = {"clean": 1, "tf1": 2, "pytorch-fid": 1}
"""Bumped when a protocol's output changes for the same pixels (part of feature cache keys):
tf1 revision 2 is bit-exact with torch-fidelity (revision 1 differed by up to 0.01 levels)."""


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
