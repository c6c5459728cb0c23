"""LAION aesthetic predictors: heads on L2-normalised CLIP image embeddings.

* Improved predictor (christophschuhmann/improved-aesthetic-predictor,
  ``sac+logos+ava1-l14-linearMSE.pth``), on CLIP ViT-L/14 embeddings: a purely affine MLP
  768→1024→128→64→16→1 (no activations; its dropouts 0.2, 0.2, 0.1 are inactive at eval). Keys
  ``layers.{0,2,4,6,7}.{weight,bias}`` (1, 3, 5 are the dropouts).
* Predictor v1 (LAION-AI/aesthetic-predictor, ``sa_0_4_vit_{l_14,b_32}_linear.pth``): one linear
  layer 768→1 (ViT-L/14) or 512→1 (ViT-B/32); keys ``weight``, ``bias``.

Score = ``head(e / ||e||)`` for a CLIP image embedding ``e``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from genmetrics.errors import UserError


class ImprovedAestheticMLP(nn.Module):
    """The improved LAION aesthetic MLP (layout and key names of the published file)."""

    def __init__(self, input_dim: int = 768) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LinearAestheticHead(nn.Module):
    """LAION aesthetic predictor v1: ``x @ weight.T + bias`` (keys ``weight``, ``bias``)."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, input_dim))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


def head_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Build the right head for a LAION aesthetic state dict and load it strictly (eval mode)."""
    if "layers.0.weight" in state_dict:
        head: nn.Module = ImprovedAestheticMLP(state_dict["layers.0.weight"].shape[1])
    elif set(state_dict) == {"weight", "bias"}:
        head = LinearAestheticHead(state_dict["weight"].shape[1])
    else:
        raise UserError(
            f"not a LAION aesthetic head state dict (keys: {sorted(state_dict)[:4]}...)"
        )
    head.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return head.eval()


def aesthetic_score(image_embeds: torch.Tensor, head: nn.Module) -> torch.Tensor:
    """N×D CLIP image embeddings → N scores; embeddings are L2-normalised first."""
    param = next(head.parameters())
    x = image_embeds.to(device=param.device, dtype=param.dtype)
    x = x / x.norm(dim=-1, keepdim=True)
    with torch.no_grad():
        return head(x).squeeze(-1)


def load_aesthetic_head(
    name: str, device: str | torch.device = "cpu", offline: bool | None = None
) -> nn.Module:
    """A registered aesthetic head (see :mod:`genmetrics.backbones.clip.weights`) from the cache."""
    from safetensors.torch import load_file

    from genmetrics.backbones.clip.weights import AESTHETIC_HEADS, clip_weight_spec
    from genmetrics.weights.store import verified_weights_path

    if name not in AESTHETIC_HEADS:
        raise UserError(f"unknown aesthetic head '{name}'; known: {', '.join(AESTHETIC_HEADS)}")
    path = verified_weights_path(clip_weight_spec(name), offline=offline)  # hashed on every load
    return head_from_state_dict(load_file(str(path))).to(device)
