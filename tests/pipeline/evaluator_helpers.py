"""Shared pieces of the Evaluator tests: a light Inception (the real backbone class — resize
protocols, device transfer, outputs — over a small convolutional net instead of the 299-px
Inception v3), image batches, and a comparison of two results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.registry import BackboneOptions


class LightInceptionNet(torch.nn.Module):
    """Stand-in for FIDInceptionV3's ``forward(x, taps)``: a seeded conv and pooling,
    giving pool3 (32-d), logits_unbiased (20-d) and spatial (18-d)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 8, 7, stride=7)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.05)
            self.conv.bias.copy_(torch.randn(8, generator=g) * 0.1)
        self.fc = torch.nn.Parameter(torch.randn(32, 20, generator=g))

    def forward(self, x, taps=("pool3",)):
        h = torch.relu(self.conv((x - 128) / 128))
        pool3 = torch.nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)  # 8 x 2 x 2 = 32
        spatial = torch.nn.functional.adaptive_max_pool2d(h[:, :2], 3).flatten(1)  # 2 x 3 x 3
        out = {"pool3": pool3, "logits_unbiased": pool3 @ self.fc, "spatial": spatial}
        # any other tap the real network offers (e.g. the 64/192/768-d ones): a slice of pool3
        return {k: out[k] if k in out else pool3[:, : 8 + len(k)] * (1 + len(k)) for k in taps}


def light_inception(tmp: Path, protocol: str = "clean", seed: int = 0,
                    cls: type = InceptionBackbone) -> InceptionBackbone:
    """The registered Inception backbone class (or ``cls``, e.g. a tap backbone) on
    :class:`LightInceptionNet` (its weights file only tells the class that fc exists)."""
    from safetensors.torch import save_file

    path = tmp / f"light-inception-{seed}.safetensors"
    if not path.exists():
        save_file({"fc.weight": torch.full((1,), float(seed))}, path)
    bb = cls(BackboneOptions(protocol=protocol, device="cpu"), weights_path=str(path))
    bb._net = LightInceptionNet(seed).eval()
    if cls is InceptionBackbone:
        bb.output_dims = {"pool3": 32, "logits_unbiased": 20, "spatial": 18}
    else:
        bb.output_dims = {k: 8 + len(k) for k in bb.outputs}
    return bb


def images(n: int, seed: int, size=(36, 44)) -> np.ndarray:
    """``n`` random HxWx3 uint8 images (smooth enough that resizes differ by protocol)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, size[0] // 4, size[1] // 4, 3)).astype(np.float32)
    big = np.repeat(np.repeat(small, 4, axis=1), 4, axis=2)
    noise = rng.normal(0, 12, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def feed(evaluator, arrays: np.ndarray, batch: int, *, real: bool = False, as_tensor: bool = True,
         prompts=None) -> None:
    """``arrays`` through ``update`` in batches (NCHW float tensors in [0, 1] by default,
    which convert back to the same uint8 pixels)."""
    for s in range(0, len(arrays), batch):
        part = arrays[s : s + batch]
        x = torch.from_numpy(part).permute(0, 3, 1, 2) if as_tensor else part
        p = None if prompts is None else prompts[s : s + batch]
        evaluator.update(x, prompts=p, real=real)


def assert_same_result(one, other, rel: float = 1e-6, exact: tuple[str, ...] = ()) -> None:
    """Same metrics, values, std and CI within ``rel`` (bit-identical for ``exact``), same
    counts of images and warnings."""
    assert list(one.metrics) == list(other.metrics)
    for name, a in one.metrics.items():
        b = other.metrics[name]
        if name in exact:
            assert (a.value, a.std, a.ci) == (b.value, b.std, b.ci), name
        else:
            assert b.value == pytest.approx(a.value, rel=rel, abs=1e-12), name
            for x, y in ((a.std, b.std), *zip(a.ci or (), b.ci or (), strict=True)):
                assert (x is None) == (y is None) and (x is None or y == pytest.approx(x, rel=rel, abs=1e-12)), name
        assert a.warnings == b.warnings, name
    for key in ("generated", "reference"):
        assert one.counts[key] == other.counts[key], key
