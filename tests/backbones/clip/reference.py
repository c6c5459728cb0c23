"""A plain-torch re-statement of the OpenAI / open_clip ViT CLIP forward, for parity tests.

Its parameter names are those of the original state dicts (``visual.conv1.weight``,
``transformer.resblocks.N.attn.in_proj_weight``, ...). Sequence-first layout and
``nn.MultiheadAttention`` with a packed in-projection, as in the originals.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from genmetrics.backbones.clip.configs import ClipArch


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """Pre-LN residual block: x + attn(ln_1(x)); x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, act: str) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.ln_2 = nn.LayerNorm(width)
        gelu = QuickGELU() if act == "quick_gelu" else nn.GELU()
        self.mlp = nn.Sequential(
            OrderedDict(
                c_fc=nn.Linear(width, 4 * width), gelu=gelu, c_proj=nn.Linear(4 * width, width)
            )
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, act: str) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(Block(width, heads, act) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class Visual(nn.Module):
    def __init__(self, a: ClipArch) -> None:
        super().__init__()
        w = a.vision_width
        grid = a.image_size // a.patch_size
        self.conv1 = nn.Conv2d(3, w, a.patch_size, a.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, a.vision_layers, a.vision_heads, a.act)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.randn(w, a.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)  # N, grid², W
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x).transpose(0, 1)).transpose(0, 1)
        return self.ln_post(x[:, 0, :]) @ self.proj


class ReferenceCLIP(nn.Module):
    def __init__(self, a: ClipArch) -> None:
        super().__init__()
        self.visual = Visual(a)
        self.token_embedding = nn.Embedding(a.vocab_size, a.text_width)
        self.positional_embedding = nn.Parameter(torch.randn(a.context_length, a.text_width))
        self.transformer = Transformer(a.text_width, a.text_layers, a.text_heads, a.act)
        self.ln_final = nn.LayerNorm(a.text_width)
        self.text_projection = nn.Parameter(torch.randn(a.text_width, a.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual(pixels)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding
        mask = torch.full((n, n), float("-inf"), dtype=x.dtype).triu(1)
        x = self.transformer(x.transpose(0, 1), mask).transpose(0, 1)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor):
        return self.encode_image(pixels), self.encode_text(ids)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (LayerNorm gains around 1), scaled to keep activations tame."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("logit_scale"):
                continue
            if ".ln_" in name or name.startswith("ln_") or "ln_final" in name:
                p.copy_(1.0 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
            else:
                p.copy_(0.1 * noise)
    return model.eval()
