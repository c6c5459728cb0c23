"""The paired (full-reference) metrics of ``pair`` and ``compare --similarity``.

Each :class:`PairMetric` says which direction is better, what two identical images give,
and builds its scorer once per run from the :class:`PairOptions` — LPIPS loads its network
there, so missing weights stop a run before any image is read. The options are declared once
(:data:`PAIR_OPTIONS`): the CLI makes the flags of ``pair`` and ``compare`` from this table,
and every value records the protocol that made it (:meth:`PairScorer.protocol`).

* ``psnr``, ``ssim``, ``ms_ssim``: :mod:`genmetrics.metrics.functional.image_similarity`
  on the decoded 8-bit images (``data_range`` 255); higher is better.
* ``lpips``: :mod:`genmetrics.metrics.functional.lpips` (the ``lpips`` package's v0.1
  forward; ``--lpips-net alex|vgg|squeeze``, ``--lpips-resize none|N``); lower is better.
* ``dreamsim``: :mod:`genmetrics.metrics.functional.dreamsim` (``--dreamsim-type``; the
  weights are used once the user vouches for their sha256, see
  :mod:`genmetrics.backbones.dreamsim.load`); lower is better.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from genmetrics.errors import UserError
from genmetrics.metrics.functional import image_similarity
from genmetrics.metrics.pair_options import PAIR_OPTIONS, PairOptions, pair_options

__all__ = [
    "PAIR_METRICS",
    "PAIR_OPTIONS",
    "PairMetric",
    "PairOptions",
    "PairScorer",
    "build_scorers",
    "pair_options",
    "parse_pair_metrics",
]

class PairScorer(Protocol):
    """One pair of same-size ``HxWx3`` uint8 images → one float."""

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float: ...

    def protocol(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PairMetric:
    name: str
    description: str
    higher_is_better: bool
    identical: float
    """The value of two identical images (``inf`` for PSNR)."""
    build: Callable[[PairOptions], PairScorer]


class _Functional:
    """A float64 function of two 8-bit images (``data_range`` 255)."""

    def __init__(self, fn: Callable[..., Any], protocol: dict[str, Any]) -> None:
        self.fn = fn
        self._protocol = protocol

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.fn(a, b, data_range=255.0))

    def protocol(self) -> dict[str, Any]:
        return dict(self._protocol)


_SSIM_PROTOCOL = {
    "window": "gaussian 11x11, sigma 1.5",
    "k1": image_similarity.K1,
    "k2": image_similarity.K2,
    "pooling": "valid interior, channel mean",
    "data_range": 255,
}


class _Lpips:
    """The LPIPS network of the run (built once), scoring one pair at a time."""

    def __init__(self, options: PairOptions) -> None:
        from genmetrics.backbones.lpips.load import load_lpips
        from genmetrics.devices import resolve_device

        self.device = resolve_device(options.device)
        self.network, self.info = load_lpips(
            options.lpips_net, options.lpips_resize, self.device, options.offline
        )
        self.options = options

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        from genmetrics.metrics.functional.lpips import lpips

        return lpips(self.network, a, b, self.device)

    def protocol(self) -> dict[str, Any]:
        resize = self.options.lpips_resize
        return {
            "net": self.options.lpips_net,
            "version": "0.1",
            "resize": "none" if resize is None else resize,
            "resize_method": None if resize is None else "area if both sides > N, else bilinear",
            "input": "u8 / 127.5 - 1 ([-1, 1], lpips.im2tensor)",
            "reduction": "spatial average per layer, summed over layers",
            "normalize_eps": 1e-10,
            **self.info,
        }


class _DreamSim:
    """The DreamSim network of the run (built once), scoring one pair at a time."""

    def __init__(self, options: PairOptions) -> None:
        from genmetrics.backbones.dreamsim.load import load_dreamsim
        from genmetrics.devices import resolve_device

        self.device = resolve_device(options.device)
        self.network, self.info = load_dreamsim(options.dreamsim_type, self.device, options.offline)
        self.options = options

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        from genmetrics.metrics.functional.dreamsim import dreamsim

        return dreamsim(self.network, a, b, self.device)

    def protocol(self) -> dict[str, Any]:
        return {
            "type": self.options.dreamsim_type,
            "input": "PIL bicubic to 224x224, u8 / 255, per-branch mean/std",
            "embedding": "branch features concatenated, centred, L2-normalised",
            "distance": "1 - cos",
            **self.info,
        }


PAIR_METRICS: dict[str, PairMetric] = {
    "psnr": PairMetric(
        "psnr", "peak signal-to-noise ratio (dB)", True, float("inf"),
        lambda o: _Functional(image_similarity.psnr, {"data_range": 255}),
    ),
    "ssim": PairMetric(
        "ssim", "structural similarity (Wang et al. 2004)", True, 1.0,
        lambda o: _Functional(image_similarity.ssim, _SSIM_PROTOCOL),
    ),
    "ms_ssim": PairMetric(
        "ms_ssim", "multi-scale SSIM (Wang et al. 2003)", True, 1.0,
        lambda o: _Functional(
            image_similarity.ms_ssim,
            {**_SSIM_PROTOCOL, "weights": list(image_similarity.MS_SSIM_WEIGHTS)},
        ),
    ),
    "lpips": PairMetric(
        "lpips", "learned perceptual image patch similarity (Zhang et al. 2018)", False, 0.0,
        _Lpips,
    ),
    "dreamsim": PairMetric(
        "dreamsim", "DreamSim perceptual distance (Fu et al. 2023)", False, 0.0, _DreamSim,
    ),
}


def parse_pair_metrics(names: str | Iterable[str]) -> list[str]:
    """``"psnr,ssim,ms-ssim"`` → ``["psnr", "ssim", "ms_ssim"]``; unknown names are an error."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out = [n.strip().lower().replace("-", "_") for n in items if n and n.strip()]
    unknown = [n for n in out if n not in PAIR_METRICS]
    if unknown:
        raise UserError(
            f"unknown similarity metric '{unknown[0]}'; choose from {', '.join(PAIR_METRICS)}"
        )
    if not out:
        raise UserError("no similarity metric given; pass e.g. psnr,ssim,lpips")
    return list(dict.fromkeys(out))


def build_scorers(names: Iterable[str], options: PairOptions | None = None) -> dict[str, PairScorer]:
    """One scorer per metric (networks loaded once, weights checked) — before any image."""
    opts = options or PairOptions()
    return {n: PAIR_METRICS[n].build(opts) for n in parse_pair_metrics(list(names))}
