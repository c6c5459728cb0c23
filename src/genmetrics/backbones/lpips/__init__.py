"""LPIPS (Zhang et al. 2018): torchvision trunks re-stated in plain torch and the v0.1 linear
heads (:mod:`.network`), their pinned weights (:mod:`.weights`) and the loader (:mod:`.load`).

:func:`register` adds the weights to the registry (``weights list|download|import|verify``);
it imports no torch: the network loads only when a command scores LPIPS.
"""

from __future__ import annotations


def register() -> None:
    """Register the LPIPS trunk and head weights (torch-free)."""
    from genmetrics.backbones.lpips.weights import lpips_weight_specs
    from genmetrics.weights.store import register_weights

    for spec in lpips_weight_specs():
        register_weights(spec)
