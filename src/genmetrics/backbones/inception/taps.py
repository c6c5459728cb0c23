"""The FID Inception's intermediate taps as backbones of their own: ``inception-64``,
``inception-192`` and ``inception-768``, the features of torchmetrics'
``FrechetInceptionDistance(feature=64|192|768)`` (torch-fidelity's taps: after the first and
second stem max-pool and after Mixed_6e, each averaged over space).

Same weights and resize protocol as ``inception``; each tap backbone computes only its own tap
(the forward stops at the last stage it needs) and has its own cache key, so the ``inception``
backbone's outputs and cache rows (pool3, spatial, logits) are untouched.
"""

from __future__ import annotations

from typing import Any

from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.registry import BackboneOptions, register_backbone

TAP_DIMS = {"64": 64, "192": 192, "768": 768}
_WHERE = {
    "64": "after the first stem max-pool",
    "192": "after the second stem max-pool",
    "768": "after Mixed_6e",
}


class InceptionTapBackbone(InceptionBackbone):
    """One tap of the FID Inception (``tap``), under the name ``inception-<tap>``."""

    tap = "64"

    def __init__(self, options: BackboneOptions, weights_path: str | None = None) -> None:
        super().__init__(options, weights_path)
        self.outputs = (self.tap,)

    @property
    def key(self) -> str:
        return f"{super().key}/tap-{self.tap}"

    def describe_output(self, output: str) -> str:
        return f"Inception's {TAP_DIMS.get(output, '?')}-d features {_WHERE.get(output, output)}"

    def manifest(self) -> dict[str, Any]:
        return {**super().manifest(), "tap": f"{self.tap} ({_WHERE[self.tap]}, spatial mean)"}


def _tap_class(tap: str) -> type[InceptionTapBackbone]:
    return type(
        f"InceptionTap{tap}Backbone",
        (InceptionTapBackbone,),
        {"name": f"inception-{tap}", "tap": tap, "output_dims": {tap: TAP_DIMS[tap]},
         "__doc__": f"The FID Inception's {tap}-d tap ({_WHERE[tap]})."},
    )


TAP_BACKBONES = {tap: _tap_class(tap) for tap in TAP_DIMS}
"""Tap → backbone class (name ``inception-<tap>``)."""


def register() -> None:
    """Register ``inception-64``, ``inception-192`` and ``inception-768`` (the Inception
    weights are registered by :func:`genmetrics.backbones.inception.backbone.register`)."""
    for tap, cls in TAP_BACKBONES.items():
        register_backbone(f"inception-{tap}", cls, weights=("inception",))
