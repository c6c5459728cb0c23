"""What a registered metric needs before it can run: inputs, weights, Python extras, options.

Read from the declarations only — the metric's feature requests under the default options and
what its backbones declared when they registered (:class:`~genmetrics.backbones.registry.
BackboneInfo`) — so a listing never loads a network nor imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmetrics.backbones.registry import backbone_info
from genmetrics.metrics.options import default_options, option_table
from genmetrics.metrics.registry import MetricSpec
from genmetrics.optional import EXTRAS, install_command

__all__ = ["MetricNeeds", "metric_needs"]


@dataclass(frozen=True)
class MetricNeeds:
    """Inputs (``--reference``, ``--prompts``), the backbones and weights of the default
    options, the pip commands of the packages they need and the option flags it reads."""

    inputs: tuple[str, ...]
    backbones: tuple[str, ...]
    weights: tuple[str, ...]
    installs: tuple[str, ...]
    options: tuple[str, ...]
    follows_features: bool
    """The feature space is ``--features`` (backbones and weights shown are the default's)."""


def _installs(backbone: str) -> list[str]:
    info = backbone_info(backbone)
    if info.extra:
        return [install_command(info.requires[0] if info.requires else backbone, info.extra)]
    covered = [m for m in info.requires if m.split(".")[0] in EXTRAS]
    if covered:  # the extra installs its own dependencies (transformers brings tokenizers)
        return [install_command(m) for m in covered]
    return [install_command(m) for m in info.requires]


def metric_needs(spec: MetricSpec, options: dict[str, Any] | None = None) -> MetricNeeds:
    """The needs of ``spec`` under ``options`` (default: every option's default)."""
    opts = {**default_options(), "seed": 0, **(options or {})}
    try:
        requests = [*spec.generated(opts), *spec.reference(opts)]
        extra_weights = tuple(spec.weights(opts))
    except Exception:  # noqa: BLE001 - a plugin's declaration that needs other options
        requests, extra_weights = [], ()
    backbones = tuple(dict.fromkeys(r.backbone for r in requests))
    weights = [w for b in backbones for w in backbone_info(b).weights]
    installs = [c for b in backbones for c in _installs(b)]
    inputs = tuple(flag for flag, needed in (("--reference", spec.needs_reference),
                                             ("--prompts", spec.needs_prompts)) if needed)
    table = option_table()
    flags = tuple(table[o].flag if o in table else "--" + o.replace("_", "-") for o in spec.options)
    return MetricNeeds(
        inputs=inputs,
        backbones=backbones,
        weights=tuple(dict.fromkeys([*weights, *extra_weights])),
        installs=tuple(dict.fromkeys(installs)),
        options=flags,
        follows_features="features" in spec.options,
    )
