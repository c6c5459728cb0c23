"""DINOv2 state dicts: the original ``facebookresearch/dinov2`` layout ⇄ transformers.

The cached weights file is kept in the **original** layout (stable across transformers
versions); :func:`to_transformers` maps it onto whatever the installed ``Dinov2Model`` names its
parameters (transformers 4.x ``attention.attention.query`` / ``mlp.weights_in`` or 5.x
``attention.q_proj`` / ``mlp.gate_proj``). Original keys::

    cls_token (1,1,D)  pos_embed (1,1+37*37,D)  mask_token (1,D)  patch_embed.proj.{weight,bias}
    blocks.N.{norm1, attn.qkv (3D x D: q | k | v), attn.proj, ls1.gamma, norm2,
              mlp.fc1, mlp.fc2 | mlp.w12 (2H x D: gate | up), mlp.w3, ls2.gamma}
    norm.{weight,bias}

Checkpoints saved with FSDP block chunks (``blocks.C.N.``) are flattened to ``blocks.N.``.
Reading never unpickles code: ``torch.load(weights_only=True)`` or safetensors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from genmetrics.errors import UserError

_TOP_V = {  # original -> transformers (both major versions)
    "cls_token": "embeddings.cls_token",
    "mask_token": "embeddings.mask_token",
    "pos_embed": "embeddings.position_embeddings",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}
_BLOCK_COMMON = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "ls1.gamma": "layer_scale1.lambda1",
    "ls2.gamma": "layer_scale2.lambda1",
    "mlp.fc1.weight": "mlp.fc1.weight",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.weight": "mlp.fc2.weight",
    "mlp.fc2.bias": "mlp.fc2.bias",
}
_V4 = {
    "proj": "attention.output.dense",
    "q": "attention.attention.query",
    "k": "attention.attention.key",
    "v": "attention.attention.value",
    "w12": "mlp.weights_in",
    "w3": "mlp.weights_out",
}
_V5 = {
    "proj": "attention.o_proj",
    "q": "attention.q_proj",
    "k": "attention.k_proj",
    "v": "attention.v_proj",
    "w3": "mlp.down_proj",
}
_CHUNKED = re.compile(r"^blocks\.(\d+)\.(\d+)\.")


def transformers_style(model_keys: Iterable[str]) -> str:
    """``"v5"`` when the model names its attention ``q_proj``, else ``"v4"``."""
    return "v5" if any(k.endswith("attention.q_proj.weight") for k in model_keys) else "v4"


def _num_blocks(keys: Iterable[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def to_transformers(sd: Mapping[str, torch.Tensor], style: str = "v5") -> dict[str, torch.Tensor]:
    """Original-layout state dict → ``Dinov2Model`` keys of transformers ``style``."""
    names = _V5 if style == "v5" else _V4
    out: dict[str, torch.Tensor] = {}
    for src, dst in _TOP_V.items():
        if src in sd:
            out[dst] = sd[src]
    for i in range(_num_blocks(sd, r"^blocks\.(\d+)\.")):
        p, q = f"blocks.{i}.", f"encoder.layer.{i}."
        for src, dst in _BLOCK_COMMON.items():
            if p + src in sd:
                out[q + dst] = sd[p + src]
        for kind in ("weight", "bias"):
            parts = sd[p + f"attn.qkv.{kind}"].chunk(3, dim=0)
            for letter, t in zip("qkv", parts, strict=True):
                out[q + f"{names[letter]}.{kind}"] = t.clone()
            out[q + f"{names['proj']}.{kind}"] = sd[p + f"attn.proj.{kind}"]
            if p + f"mlp.w12.{kind}" in sd:
                w12 = sd[p + f"mlp.w12.{kind}"]
                if style == "v5":
                    gate, up = w12.chunk(2, dim=0)
                    out[q + f"mlp.gate_proj.{kind}"] = gate.clone()
                    out[q + f"mlp.up_proj.{kind}"] = up.clone()
                else:
                    out[q + f"{names['w12']}.{kind}"] = w12
                out[q + f"{names['w3']}.{kind}"] = sd[p + f"mlp.w3.{kind}"]
    return out


def from_transformers(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers ``Dinov2Model`` state dict (4.x or 5.x names, with or without the
    ``dinov2.`` prefix) → the original layout."""
    sd = {k.removeprefix("dinov2."): v for k, v in sd.items()}
    names = _V5 if any(k.endswith("attention.q_proj.weight") for k in sd) else _V4
    out = {src: sd[dst] for src, dst in _TOP_V.items() if dst in sd}
    for i in range(_num_blocks(sd, r"^encoder\.layer\.(\d+)\.")):
        p, q = f"blocks.{i}.", f"encoder.layer.{i}."
        for src, dst in _BLOCK_COMMON.items():
            if q + dst in sd:
                out[p + src] = sd[q + dst]
        for kind in ("weight", "bias"):
            out[p + f"attn.qkv.{kind}"] = torch.cat(
                [sd[q + f"{names[letter]}.{kind}"] for letter in "qkv"], dim=0
            )
            out[p + f"attn.proj.{kind}"] = sd[q + f"{names['proj']}.{kind}"]
            if q + f"mlp.gate_proj.{kind}" in sd:
                out[p + f"mlp.w12.{kind}"] = torch.cat(
                    [sd[q + f"mlp.gate_proj.{kind}"], sd[q + f"mlp.up_proj.{kind}"]], dim=0
                )
                out[p + f"mlp.w3.{kind}"] = sd[q + f"mlp.down_proj.{kind}"]
            elif q + f"mlp.weights_in.{kind}" in sd:
                out[p + f"mlp.w12.{kind}"] = sd[q + f"mlp.weights_in.{kind}"]
                out[p + f"mlp.w3.{kind}"] = sd[q + f"mlp.weights_out.{kind}"]
    return out


def to_original(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Any supported checkpoint (original, chunked original, transformers) → original layout."""
    if "register_tokens" in sd:
        raise UserError("DINOv2 checkpoints with registers (dinov2_*_reg) are not supported")
    if any(k.startswith(("embeddings.", "dinov2.embeddings.")) for k in sd):
        return from_transformers(sd)
    if "pos_embed" not in sd:
        raise UserError("not a DINOv2 checkpoint: it has neither 'pos_embed' nor 'embeddings.*'")
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k.startswith("head.") or k == "head":
            continue
        out[_CHUNKED.sub(r"blocks.\2.", k)] = v
    return out


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or plain-pickle ``.pth`` checkpoint (no code is run)."""
    path = Path(path)
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path)))
    except Exception:  # noqa: BLE001 - not a safetensors file: try a plain pickle
        pass
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path}: not a readable DINOv2 checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise UserError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def convert_dinov2_checkpoint(src: str | Path, dst: str | Path) -> dict[str, object]:
    """Any supported DINOv2 checkpoint → a float32 safetensors file in the original layout."""
    from safetensors.torch import save_file

    sd = to_original(read_checkpoint(src))
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in sorted(sd.items())}
    save_file(tensors, str(dst))
    return {"source_form": "dinov2", "outputs": ["cls"]}
