"""How host batches reach a backbone's device: from page-locked memory without blocking on
CUDA, and as uint8 pixels where the preprocessing ends in a normalisation, which then runs on
the device (a quarter of the bytes of float32 inputs).

The device normalisation performs the float32 operations of the host one
(:func:`genmetrics.backbones.clip.preprocess.normalize`) in the same order, so on the CPU the
inputs are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genmetrics.devices import PinnedStager


class DeviceFeed:
    """Copies host batches to ``device`` (pinned and non-blocking on CUDA)."""

    def __init__(self, device) -> None:
        import torch

        self.device = torch.device(device)
        self._stager = PinnedStager() if self.device.type == "cuda" else None

    def put(self, batch: np.ndarray):
        import torch

        batch = np.ascontiguousarray(batch)
        if self._stager is not None:
            return self._stager.to_device(batch, self.device)
        return torch.from_numpy(batch).to(self.device)

    def normalized(self, pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]):
        """(B, H, W, 3) uint8 → (B, 3, H, W) float32 ``(x / 255 − mean) / std`` on the device."""
        import torch

        x = self.put(pixels).to(torch.float32)
        f32 = {"dtype": torch.float32, "device": self.device}
        x = x / torch.tensor(255.0, **f32)
        x = (x - torch.tensor(mean, **f32)) / torch.tensor(std, **f32)
        return x.permute(0, 3, 1, 2)
