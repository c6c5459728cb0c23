"""Architectures of the four DINOv2 ViTs and their transformers ``Dinov2Config``.

All are patch-14 ViTs trained at 518 px (a 37x37 grid of position embeddings), LayerNorm eps
1e-6, exact GELU, LayerScale, q/k/v biases; ViT-g/14 uses a SwiGLU feed-forward whose hidden
width is ``(int(4 D * 2 / 3) + 7) // 8 * 8``.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmetrics.errors import UserError
from genmetrics.optional import require


@dataclass(frozen=True)
class Dinov2Arch:
    """Sizes of one DINOv2 ViT."""

    name: str
    hidden_size: int
    layers: int
    heads: int
    swiglu: bool = False
    patch_size: int = 14
    image_size: int = 518
    mlp_ratio: int = 4
    layer_norm_eps: float = 1e-6

    @property
    def mlp_hidden(self) -> int:
        hidden = self.hidden_size * self.mlp_ratio
        return (int(hidden * 2 / 3) + 7) // 8 * 8 if self.swiglu else hidden


ARCHS: dict[str, Dinov2Arch] = {
    a.name: a
    for a in (
        Dinov2Arch("vits14", 384, 12, 6),
        Dinov2Arch("vitb14", 768, 12, 12),
        Dinov2Arch("vitl14", 1024, 24, 16),
        Dinov2Arch("vitg14", 1536, 40, 24, swiglu=True),
    )
}


def tiny_arch(swiglu: bool = False) -> Dinov2Arch:
    """A kilobyte-sized DINOv2 of the real geometry (patch 14, 37x37 positions), for tests."""
    return Dinov2Arch("tiny", hidden_size=32, layers=2, heads=4, swiglu=swiglu)


def get_arch(name: str) -> Dinov2Arch:
    if name not in ARCHS:
        raise UserError(f"unknown DINOv2 architecture '{name}'; known: {', '.join(ARCHS)}")
    return ARCHS[name]


def dinov2_config(arch: Dinov2Arch):
    """transformers ``Dinov2Config`` for ``arch`` (no dropout, no drop path)."""
    Dinov2Config = require("transformers", "DINOv2 backbones").Dinov2Config
    return Dinov2Config(
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        mlp_ratio=arch.mlp_ratio,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=0.0,
        layer_norm_eps=arch.layer_norm_eps,
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        num_channels=3,
        qkv_bias=True,
        layerscale_value=1.0,
        use_swiglu_ffn=arch.swiglu,
    )
