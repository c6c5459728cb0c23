"""Published LPIPS weight files → safetensors in the cache (shapes checked against the nets).

A trunk source is torchvision's state dict of the whole classifier; the ``features.*``
tensors the LPIPS taps use are kept, names unchanged. A head source is the ``lpips`` package's
v0.1 state dict (``lin{l}.model.1.weight``). A safetensors file already in this form is
accepted too (re-validated), so ``weights import`` takes either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genmetrics.backbones.lpips.network import LPIPS_NETS, LPIPSNetwork, Trunk
from genmetrics.errors import UserError

__all__ = ["convert_head", "convert_trunk", "read_state_dict"]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``torch.save``-d state dict (read with ``weights_only=True``) or a safetensors file."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(16)
    try:
        if head[:1] != b"P" and head[8:9] == b"{":  # safetensors: 8-byte length, JSON header
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one user error
        raise UserError(f"{path}: not a readable state dict ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: not a state dict of tensors")
    return {str(k): v for k, v in obj.items()}


def _which(tensors: dict[str, torch.Tensor], shapes_of) -> str:
    for net in LPIPS_NETS:
        expected = shapes_of(net)
        if all(k in tensors and tuple(tensors[k].shape) == s for k, s in expected.items()):
            return net
    raise UserError(
        "the file holds no AlexNet, VGG16 or SqueezeNet 1.1 weights in torchvision's layout "
        "(or no LPIPS v0.1 heads); check that it is the published file"
    )


def _trunk_shapes(net: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in Trunk(LPIPS_NETS[net]).state_dict().items()}


def _head_shapes(net: str) -> dict[str, tuple[int, ...]]:
    chans = LPIPS_NETS[net].channels
    return {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(chans)}


def _save(tensors: dict[str, torch.Tensor], dst: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: tensors[k].detach().float().contiguous() for k in sorted(tensors)}, str(dst),
              metadata={"format": "pt"})


def convert_trunk(src: Path, dst: Path) -> dict[str, Any]:
    """torchvision AlexNet / VGG16 / SqueezeNet 1.1 → their ``features.*`` tensors."""
    tensors = read_state_dict(src)
    net = _which(tensors, _trunk_shapes)
    keep = {k: tensors[k] for k in _trunk_shapes(net)}
    LPIPSNetwork.from_state_dicts(net, keep, {k: torch.zeros(s) for k, s in _head_shapes(net).items()})
    _save(keep, dst)
    return {"source_form": f"torchvision {LPIPS_NETS[net].torchvision} state dict (features kept)"}


def convert_head(src: Path, dst: Path) -> dict[str, Any]:
    """The ``lpips`` v0.1 linear heads (``lin{l}.model.1.weight``) of one net."""
    tensors = read_state_dict(src)
    net = _which(tensors, _head_shapes)
    keep = {k: tensors[k] for k in _head_shapes(net)}
    _save(keep, dst)
    return {"source_form": f"lpips v0.1 {net} linear heads"}
