"""The two bilinear protocols (``tf1`` and ``pytorch-fid``) split between host and device, so a
GPU gets uint8 pixels and does the arithmetic itself.

Both protocols sample each output pixel from two source rows and two source columns with
float32 weights. The host computes those positions exactly as the CPU protocols in
:mod:`genmetrics.protocols.resize` do (numpy, float32) and, for an image more than twice the
output size along an axis, keeps only the sampled rows or columns (still uint8, so memory and
transfer stay O(size²) whatever the image's size). The device gathers and interpolates in
float32 with the same operations in the same order:

    along = left + (right − left) · dx        (within each sampled row)
    out   = top + (bottom − top) · dy         (between the two rows)

``tf1`` is then bit-identical to :func:`~genmetrics.protocols.resize.resize_tf1` (same IEEE
operations); ``pytorch-fid`` equals torch's CPU ``interpolate`` within float32 rounding (its
kernel orders the four products differently), ≤ 1e-6 on the network input. ``clean`` (PIL
bicubic with antialiasing) has no device form and stays on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEVICE_PROTOCOLS = ("tf1", "pytorch-fid")
"""Protocols with a device form."""

PYTORCH_FID_SCALE = np.float32(256.0 / 255.0)
"""pytorch-fid's ``2x/255 − 1`` expressed through the network's ``(x − 128)/128``."""


def _grid_tf1(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF1 legacy positions (as :func:`~genmetrics.protocols.resize._tf1_grid`)."""
    from genmetrics.protocols.resize import _tf1_grid

    return _tf1_grid(n_in, n_out)


def _grid_pytorch_fid(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch ``interpolate(bilinear, align_corners=False)`` positions in float32: source
    ``max(scale·(i + 0.5) − 0.5, 0)`` with ``scale = n_in / n_out``, the upper index clamped.

    torch's CPU kernel evaluates ``scale·(i + 0.5) − 0.5`` as one fused multiply-add (one
    rounding); the product of two float32 values is exact in float64, so computing it there
    and rounding once reproduces its positions exactly."""
    scale = np.float32(n_in) / np.float32(n_out)
    half = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)).astype(np.float64)
    real = (np.float64(scale) * half - 0.5).astype(np.float32)
    real = np.maximum(real, np.float32(0.0))
    lo = real.astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = np.clip(real - lo.astype(np.float32), 0.0, 1.0).astype(np.float32)
    return lo, hi, frac


_GRIDS = {"tf1": _grid_tf1, "pytorch-fid": _grid_pytorch_fid}


@dataclass
class DeviceResizeInput:
    """One image on its way to the device: uint8 pixels (all of them, or only the sampled
    rows/columns) and, per axis, the two source indices into ``pixels`` and the weight."""

    pixels: np.ndarray  # (h, w, 3) uint8
    y: tuple[np.ndarray, np.ndarray, np.ndarray]
    x: tuple[np.ndarray, np.ndarray, np.ndarray]
    source_shape: tuple[int, int]


def _reduce_axis(lo: np.ndarray, hi: np.ndarray, n_in: int, n_out: int):
    """(kept source indices or None, lo, hi relative to them): only when it saves memory."""
    if n_in <= 2 * n_out:
        return None, lo, hi
    keep = np.unique(np.concatenate([lo, hi]))
    return keep, np.searchsorted(keep, lo), np.searchsorted(keep, hi)


def host_part(image: np.ndarray, size: int, protocol: str) -> DeviceResizeInput:
    """The host's share of a ``size``×``size`` resize of an HxWx3 uint8 image."""
    grid = _GRIDS[protocol]
    h, w = image.shape[:2]
    y_lo, y_hi, dy = grid(h, size)
    x_lo, x_hi, dx = grid(w, size)
    rows, y_lo, y_hi = _reduce_axis(y_lo, y_hi, h, size)
    cols, x_lo, x_hi = _reduce_axis(x_lo, x_hi, w, size)
    pixels = image if rows is None else image[rows]
    if cols is not None:
        pixels = pixels[:, cols]
    return DeviceResizeInput(np.ascontiguousarray(pixels, dtype=np.uint8), (y_lo, y_hi, dy),
                             (x_lo, x_hi, dx), (h, w))


def device_part(inputs: Sequence[DeviceResizeInput], device, protocol: str, pinned=None):
    """Resize a batch on ``device``: a (B, 3, S, S) float32 tensor in channels-last memory
    (pixel values in [0, 255], scaled by 256/255 for ``pytorch-fid``), in input order.

    Images of the same source size share their sampling grid and are resized as one stacked
    tensor; the uint8 pixels travel from page-locked host memory (``pinned``, a
    :class:`~genmetrics.devices.PinnedStager`, on CUDA) without blocking the host.
    """
    import torch

    groups: dict[tuple, list[int]] = {}
    for i, inp in enumerate(inputs):
        groups.setdefault((inp.source_shape, inp.pixels.shape), []).append(i)
    out: list = [None] * len(inputs)
    if len(groups) == 1:  # the usual case: every image of the batch has one size
        return _resize_group(inputs, device, protocol, pinned).permute(0, 3, 1, 2)
    for idx in groups.values():
        resized = _resize_group([inputs[i] for i in idx], device, protocol, pinned)
        for j, i in enumerate(idx):
            out[i] = resized[j]
    batch = torch.stack(out)  # (B, S, S, 3)
    return batch.permute(0, 3, 1, 2)  # (B, 3, S, S), channels-last in memory


def _resize_group(inputs: Sequence[DeviceResizeInput], device, protocol: str, pinned):
    """Images of one source size (one grid) → (B, S, S, 3) float32 on ``device``."""
    import torch

    first = inputs[0]
    host = np.stack([i.pixels for i in inputs]) if len(inputs) > 1 else first.pixels[None]
    pixels = pinned.to_device(host, device) if pinned is not None else torch.from_numpy(host).to(device)
    resized = _lerp(pixels, first, device)
    if protocol == "pytorch-fid":
        resized = resized * torch.tensor(PYTORCH_FID_SCALE, device=device)
    return resized


def _lerp(pixels, grid: DeviceResizeInput, device):
    """Two-tap interpolation of (B, h, w, 3) uint8 on the device → (B, S, S, 3) float32."""
    import torch

    y_lo, y_hi, dy, x_lo, x_hi, dx = _device_grid(grid, device)
    x = pixels.to(torch.float32)
    left = x.index_select(2, x_lo)
    right = x.index_select(2, x_hi)
    along = left + (right - left) * dx[None, None, :, None]
    top = along.index_select(1, y_lo)
    bottom = along.index_select(1, y_hi)
    return top + (bottom - top) * dy[None, :, None, None]


_GRID_CACHE: dict[tuple, tuple] = {}


def _device_grid(grid: DeviceResizeInput, device) -> tuple:
    """The six index/weight tensors of a grid on ``device``, made once per source size."""
    import torch

    key = (grid.source_shape, grid.pixels.shape, len(grid.y[0]), str(device),
           grid.y[2].tobytes(), grid.x[2].tobytes())
    found = _GRID_CACHE.get(key)
    if found is None:
        parts = (*grid.y, *grid.x)
        found = tuple(
            torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32 if n % 3 == 2 else torch.int64)
            .to(device) for n, a in enumerate(parts)
        )
        if len(_GRID_CACHE) > 64:
            _GRID_CACHE.clear()
        _GRID_CACHE[key] = found
    return found
