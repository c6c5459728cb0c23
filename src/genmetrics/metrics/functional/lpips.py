"""LPIPS distance of two images (Zhang, Isola, Efros, Shechtman & Wang 2018, CVPR,
arXiv:1801.03924), with the ``lpips`` package's input convention.

``d(x0, x1) = sum_l mean_{h,w} w_l · (f̂0_l − f̂1_l)²`` with ``f̂`` the channel-normalised
activations of the trunk taps (see :mod:`genmetrics.backbones.lpips.network`). Inputs are
``HxWx3`` uint8 RGB images of equal size, mapped to ``[-1, 1]`` as ``lpips.im2tensor`` does:
``x = u / 127.5 − 1`` (computed in float64, then float32). Lower is more similar; identical
images give 0.
"""

from __future__ import annotations

import numpy as np

from genmetrics.errors import UserError

__all__ = ["lpips", "lpips_input"]


def lpips_input(image: np.ndarray) -> np.ndarray:
    """``HxWx3`` uint8 → ``3xHxW`` float32 in ``[-1, 1]`` (``u / 127.5 − 1``)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise UserError(f"LPIPS needs HxWx3 uint8 RGB images, got {arr.dtype} {arr.shape}")
    return (arr.astype(np.float64) / 127.5 - 1.0).astype(np.float32).transpose(2, 0, 1)


def lpips(network, a: np.ndarray, b: np.ndarray, device: str = "cpu") -> float:
    """LPIPS between ``a`` and ``b`` (``network``: a loaded
    :class:`~genmetrics.backbones.lpips.network.LPIPSNetwork`). Same-size images only; each
    side must reach the net's minimum (its resize size, when it resizes)."""
    import torch

    from genmetrics.backbones.lpips.network import min_input_side

    if a.shape != b.shape:
        raise UserError(f"LPIPS needs images of the same size, got {a.shape} and {b.shape}")
    least = min_input_side(network.net)
    side = network.resize if network.resize is not None else min(a.shape[:2])
    if side < least:
        what = f"--lpips-resize {side}" if network.resize is not None else f"images of {a.shape[1]}x{a.shape[0]}"
        raise UserError(f"LPIPS-{network.net} needs images of at least {least}x{least} pixels; got {what}")
    x0 = torch.from_numpy(lpips_input(a))[None].to(device)
    x1 = torch.from_numpy(lpips_input(b))[None].to(device)
    with torch.inference_mode():
        return float(network(x0, x1)[0].double().cpu())
