"""Options of the paired (full-reference) metrics of ``pair`` and ``compare --similarity``,
declared once: the CLI makes the flags of both commands from :data:`PAIR_OPTIONS` and
:func:`pair_options` checks them before any work. A light module (no torch, no scipy), so
building the command line imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genmetrics.errors import UserError
from genmetrics.metrics.options import MetricOption

__all__ = [
    "DREAMSIM_TYPES",
    "LPIPS_NETS",
    "OPTION_METRIC",
    "PAIR_OPTIONS",
    "PairOptions",
    "check_applies",
    "pair_options",
]

LPIPS_NETS = ("alex", "vgg", "squeeze")
DREAMSIM_TYPES = ("ensemble", "dino_vitb16", "clip_vitb32", "open_clip_vitb32")
OPTION_METRIC = {"lpips_net": "lpips", "lpips_resize": "lpips", "dreamsim_type": "dreamsim"}

PAIR_OPTIONS: tuple[MetricOption, ...] = (
    MetricOption(
        "lpips_net", "alex", "LPIPS trunk: alex (the lpips package's default), vgg or squeeze.",
        type=str, choices=LPIPS_NETS,
    ),
    MetricOption(
        "lpips_resize", "none",
        "LPIPS input size: none (native resolution, as the lpips package) or N (both images "
        "to NxN: area when larger, else bilinear, as torchmetrics' resize).",
        type=str,
    ),
    MetricOption(
        "dreamsim_type", "ensemble",
        "DreamSim model: ensemble (DINO + CLIP + OpenCLIP ViT-B/16, the reference default) or a "
        "single branch: dino_vitb16, clip_vitb32, open_clip_vitb32.",
        type=str, choices=DREAMSIM_TYPES,
    ),
)


@dataclass(frozen=True)
class PairOptions:
    """Run-wide settings of the paired metrics (see :data:`PAIR_OPTIONS`)."""

    lpips_net: str = "alex"
    lpips_resize: int | None = None
    dreamsim_type: str = "ensemble"
    device: str = "cpu"
    offline: bool | None = None


def _resize(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        size = int(str(value).strip())
    except ValueError:
        raise UserError(f"--lpips-resize must be 'none' or an integer size, got {value!r}") from None
    if size < 1:
        raise UserError(f"--lpips-resize must be 'none' or a size of at least 1, got {value!r}")
    return size


def pair_options(given: Mapping[str, Any] | None = None, **run: Any) -> PairOptions:
    """Checked options from ``given`` (option name → CLI text or value) and the run settings
    (``device``, ``offline``); a :class:`UserError` names the first bad flag."""
    given = dict(given or {})
    unknown = sorted(set(given) - {o.name for o in PAIR_OPTIONS})
    if unknown:
        raise UserError(f"unknown paired-metric option(s): {', '.join(unknown)}")
    net = str(given.get("lpips_net") or "alex").strip().lower()
    if net not in LPIPS_NETS:
        raise UserError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    resize = _resize(given.get("lpips_resize"))
    if resize is not None:
        from genmetrics.backbones.lpips.network import min_input_side

        least = min_input_side(net)
        if resize < least:
            raise UserError(f"--lpips-resize {resize} is too small for LPIPS-{net}: use at least {least}")
    kind = str(given.get("dreamsim_type") or "ensemble").strip().lower()
    if kind not in DREAMSIM_TYPES:
        raise UserError(f"--dreamsim-type must be one of {', '.join(DREAMSIM_TYPES)}, got {kind!r}")
    return PairOptions(net, resize, kind, str(run.get("device") or "cpu"), run.get("offline"))


def check_applies(given: Mapping[str, Any] | None, metrics: Sequence[str], flag: str) -> None:
    """A given option whose metric is not asked is an error naming the flag that adds it."""
    for name in given or {}:
        metric = OPTION_METRIC.get(name)
        if metric is not None and metric not in metrics:
            raise UserError(
                f"--{name.replace('_', '-')} does not apply: add {metric} to {flag}"
            )
