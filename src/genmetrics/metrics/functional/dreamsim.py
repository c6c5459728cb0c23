"""DreamSim distance of two images (Fu et al. 2023, NeurIPS, arXiv:2306.09344).

``d(x, y) = 1 − cos(ê(x), ê(y))`` with ``ê`` the centred, L2-normalised concatenation of the
branch embeddings (see :mod:`genmetrics.backbones.dreamsim.network`). Inputs are ``HxWx3``
uint8 RGB images of any size: each is resized to 224×224 with PIL bicubic and scaled to
``[0, 1]`` as the reference ``preprocess`` does. Lower is more similar; identical images give
0 (up to float32 rounding of the cosine).
"""

from __future__ import annotations

import numpy as np

__all__ = ["dreamsim"]


def dreamsim(network, a: np.ndarray, b: np.ndarray, device: str = "cpu") -> float:
    """DreamSim between ``a`` and ``b`` (``network``: a loaded ``DreamSimNetwork``)."""
    import torch

    from genmetrics.backbones.dreamsim.network import dreamsim_input

    x0 = torch.from_numpy(dreamsim_input(a))[None].to(device)
    x1 = torch.from_numpy(dreamsim_input(b))[None].to(device)
    with torch.inference_mode():
        return float(network(x0, x1)[0].double().cpu())
