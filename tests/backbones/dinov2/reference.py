"""A plain PyTorch re-statement of facebookresearch/dinov2's ViT forward (eval mode), reading
a state dict in the ORIGINAL key layout, to test the transformers-based backbone against."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _ln(x, sd, p, eps=1e-6):
    return F.layer_norm(x, (x.shape[-1],), sd[p + ".weight"], sd[p + ".bias"], eps)


def _lin(x, sd, p):
    return x @ sd[p + ".weight"].T + sd[p + ".bias"]


def _pos(sd, h0, w0):
    pos = sd["pos_embed"]
    n = pos.shape[1] - 1
    side = int(math.sqrt(n))
    if h0 == w0 == side:
        return pos
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((h0 + 0.1) / side, (w0 + 0.1) / side), mode="bicubic")
    grid = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)
    return torch.cat([pos[:, :1], grid], dim=1)


def dinov2_cls(sd: dict, x: torch.Tensor, heads: int, patch: int = 14) -> torch.Tensor:
    """``x_norm_clstoken`` of the original DinoVisionTransformer for input ``x`` (B,3,H,W)."""
    b, _, h, w = x.shape
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=patch)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat([sd["cls_token"].expand(b, -1, -1), t], dim=1)
    t = t + _pos(sd, h // patch, w // patch)
    n_blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    d = t.shape[-1]
    for i in range(n_blocks):
        p = f"blocks.{i}."
        y = _ln(t, sd, p + "norm1")
        qkv = _lin(y, sd, p + "attn.qkv").reshape(b, -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (d // heads) ** -0.5, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, -1, d)
        t = t + sd[p + "ls1.gamma"] * _lin(y, sd, p + "attn.proj")
        y = _ln(t, sd, p + "norm2")
        if p + "mlp.w12.weight" in sd:
            x1, x2 = _lin(y, sd, p + "mlp.w12").chunk(2, dim=-1)
            y = _lin(F.silu(x1) * x2, sd, p + "mlp.w3")
        else:
            y = _lin(F.gelu(_lin(y, sd, p + "mlp.fc1")), sd, p + "mlp.fc2")
        t = t + sd[p + "ls2.gamma"] * y
    return _ln(t, sd, "norm")[:, 0]


def random_original_state_dict(hidden: int, layers: int, swiglu: bool, mlp_hidden: int,
                               grid: int = 37, patch: int = 14, seed: int = 0) -> dict:
    """Random tensors in the original key layout (LayerScale and norms not at their init)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.2):
        return torch.randn(*shape, generator=g) * s

    sd = {
        "cls_token": r(1, 1, hidden, s=1.0),
        "pos_embed": r(1, 1 + grid * grid, hidden, s=1.0),
        "mask_token": r(1, hidden),
        "patch_embed.proj.weight": r(hidden, 3, patch, patch, s=0.05),
        "patch_embed.proj.bias": r(hidden),
        "norm.weight": 1 + r(hidden),
        "norm.bias": r(hidden),
    }
    for i in range(layers):
        p = f"blocks.{i}."
        sd.update({
            p + "norm1.weight": 1 + r(hidden), p + "norm1.bias": r(hidden),
            p + "attn.qkv.weight": r(3 * hidden, hidden), p + "attn.qkv.bias": r(3 * hidden),
            p + "attn.proj.weight": r(hidden, hidden), p + "attn.proj.bias": r(hidden),
            p + "ls1.gamma": 0.5 + r(hidden),
            p + "norm2.weight": 1 + r(hidden), p + "norm2.bias": r(hidden),
            p + "ls2.gamma": 0.5 + r(hidden),
        })
        if swiglu:
            sd[p + "mlp.w12.weight"] = r(2 * mlp_hidden, hidden)
            sd[p + "mlp.w12.bias"] = r(2 * mlp_hidden)
            sd[p + "mlp.w3.weight"] = r(hidden, mlp_hidden)
            sd[p + "mlp.w3.bias"] = r(hidden)
        else:
            sd[p + "mlp.fc1.weight"] = r(mlp_hidden, hidden)
            sd[p + "mlp.fc1.bias"] = r(mlp_hidden)
            sd[p + "mlp.fc2.weight"] = r(hidden, mlp_hidden)
            sd[p + "mlp.fc2.bias"] = r(hidden)
    return sd
