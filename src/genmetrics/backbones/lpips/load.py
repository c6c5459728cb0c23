"""Build an LPIPS network from the weights cache (each file hashed against its record on load)."""

from __future__ import annotations

from typing import Any

from genmetrics.backbones.lpips.network import LPIPSNetwork, get_arch
from genmetrics.backbones.lpips.weights import HEADS, TRUNKS

__all__ = ["load_lpips"]


def load_lpips(
    net: str = "alex", resize: int | None = None, device: str = "cpu", offline: bool | None = None
) -> tuple[LPIPSNetwork, dict[str, Any]]:
    """The LPIPS-``net`` network on ``device`` and what loaded it (weights names and sha256).

    Missing weights are downloaded unless offline; offline, a missing file is one error line
    naming ``genmetrics weights import``."""
    from safetensors.torch import load_file

    from genmetrics.weights.store import (
        file_sha256,
        get_weight_spec,
        read_record,
        verified_weights_path,
    )

    arch = get_arch(net)
    trunk = get_weight_spec(TRUNKS[net].name)
    head = get_weight_spec(HEADS[net].name)
    trunk_path = verified_weights_path(trunk, offline)
    head_path = verified_weights_path(head, offline)
    model = LPIPSNetwork.from_state_dicts(
        net, load_file(str(trunk_path)), load_file(str(head_path)), resize
    ).to(device)
    info = {
        "trunk": f"torchvision {arch.torchvision} ({TRUNKS[net].source})",
        "trunk_weights": trunk.name,
        "trunk_sha256": file_sha256(trunk_path),
        "trunk_source_sha256": (read_record(trunk_path) or {}).get("source_sha256"),
        "head_weights": head.name,
        "head_sha256": file_sha256(head_path),
        "head_source_sha256": (read_record(head_path) or {}).get("source_sha256"),
    }
    return model, info
