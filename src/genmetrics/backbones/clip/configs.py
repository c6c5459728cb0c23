"""Architectures of the CLIP-family models and their transformers ``CLIPConfig``.

OpenAI models use QuickGELU (``x * sigmoid(1.702 x)``) and 64-wide heads; OpenCLIP ViT-H-14
(also the HPS v2 backbone) uses exact GELU, 80-wide vision heads and 64-wide text heads. Every
model uses LayerNorm eps 1e-5, a 77-token context and CLIP's 49,408-token vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmetrics.backbones.clip.tokenizer import CONTEXT_LENGTH, VOCAB_SIZE
from genmetrics.optional import require

SOT_ID = VOCAB_SIZE - 2
EOT_ID = VOCAB_SIZE - 1


@dataclass(frozen=True)
class ClipArch:
    """Sizes of one CLIP model (``*_width`` are transformer widths; MLPs are 4× wide)."""

    name: str
    embed_dim: int
    image_size: int
    patch_size: int
    vision_width: int
    vision_layers: int
    vision_heads: int
    text_width: int
    text_layers: int
    text_heads: int
    act: str = "quick_gelu"
    context_length: int = CONTEXT_LENGTH
    vocab_size: int = VOCAB_SIZE
    layer_norm_eps: float = 1e-5


ARCHS: dict[str, ClipArch] = {
    a.name: a
    for a in (
        ClipArch("ViT-B-32", 512, 224, 32, 768, 12, 12, 512, 12, 8),
        ClipArch("ViT-B-16", 512, 224, 16, 768, 12, 12, 512, 12, 8),
        ClipArch("ViT-L-14", 768, 224, 14, 1024, 24, 16, 768, 12, 12),
        ClipArch("ViT-L-14-336", 768, 336, 14, 1024, 24, 16, 768, 12, 12),
        ClipArch("ViT-H-14", 1024, 224, 14, 1280, 32, 16, 1024, 24, 16, act="gelu"),
    )
}


def tiny_arch(act: str = "quick_gelu", context_length: int = CONTEXT_LENGTH) -> ClipArch:
    """A few-kilobyte CLIP of the real layout, for tests (image 32, patch 8, width 64, 2 layers)."""
    return ClipArch(
        "tiny",
        embed_dim=32,
        image_size=32,
        patch_size=8,
        vision_width=64,
        vision_layers=2,
        vision_heads=4,
        text_width=64,
        text_layers=2,
        text_heads=4,
        act=act,
        context_length=context_length,
    )


def get_arch(name: str) -> ClipArch:
    if name not in ARCHS:
        from genmetrics.errors import UserError

        raise UserError(f"unknown CLIP architecture '{name}'; known: {', '.join(ARCHS)}")
    return ARCHS[name]


def clip_config(arch: ClipArch):
    """transformers ``CLIPConfig`` for ``arch`` (text pooling at the end token, id 49407)."""
    CLIPConfig = require("transformers", "CLIP-family models").CLIPConfig

    text = dict(
        vocab_size=arch.vocab_size,
        hidden_size=arch.text_width,
        intermediate_size=4 * arch.text_width,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=arch.text_heads,
        max_position_embeddings=arch.context_length,
        hidden_act=arch.act,
        layer_norm_eps=arch.layer_norm_eps,
        projection_dim=arch.embed_dim,
        bos_token_id=SOT_ID,
        eos_token_id=EOT_ID,
        pad_token_id=0,
    )
    vision = dict(
        hidden_size=arch.vision_width,
        intermediate_size=4 * arch.vision_width,
        num_hidden_layers=arch.vision_layers,
        num_attention_heads=arch.vision_heads,
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        hidden_act=arch.act,
        layer_norm_eps=arch.layer_norm_eps,
        projection_dim=arch.embed_dim,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=arch.embed_dim)
