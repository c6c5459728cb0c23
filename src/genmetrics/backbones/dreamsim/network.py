"""DreamSim (Fu, Tamir, Sundaram et al. 2023, "DreamSim: Learning New Dimensions of Human Visual
Similarity using Synthetic Data", NeurIPS; arXiv:2306.09344) in plain torch.

As the reference code (ssundaram21/dreamsim, ``dreamsim/model.py``, ``feature_extraction/``):

* every branch is a ViT-B (768 wide, 12 blocks of 12 heads, MLP 3072, qkv bias) in DINO's
  module layout (``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.N.{norm1,
  attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``); the CLIP branches have CLIP's
  ``ln_pre`` as ``pos_drop`` (a LayerNorm), LayerNorm eps 1e-5 and, for OpenAI CLIP,
  QuickGELU; DINO keeps eps 1e-6 and GELU;
* LoRA on every ``qkv`` (peft, ``r`` 16, ``alpha`` 8): ``W + (alpha / r) · B A``, merged
  once at load;
* features: DINO ``cls`` = the class token output by block 11 (before the final norm); CLIP
  ``embedding`` = ``norm(x)[:, 0] @ proj``;
* the image: PIL bicubic to 224×224, ``ToTensor`` (``u8 / 255``), then each branch's
  ``Normalize`` (ImageNet mean/std for DINO, OpenAI CLIP's for both CLIPs);
* the embedding concatenates the branches (ensemble: 768 + 512 + 512), is centred and
  L2-normalised (``normalize_embeds=True``); the distance is ``1 − cos(e_a, e_b)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genmetrics.errors import UserError

__all__ = [
    "BRANCHES",
    "DREAMSIM_TYPES",
    "VIT_B",
    "Branch",
    "DreamSimNetwork",
    "ViT",
    "ViTSize",
    "dreamsim_input",
    "merge_lora",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_SIZE = 224


@dataclass(frozen=True)
class ViTSize:
    """ViT-B by default (tests use a narrow one of the same depth)."""

    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp: int = 3072
    embed: int = 512  # CLIP's projection


VIT_B = ViTSize()


@dataclass(frozen=True)
class Branch:
    """One ViT-B of DreamSim and how its feature is read."""

    name: str
    patch: int
    feature: str  # "cls" (DINO) or "embedding" (CLIP, projected)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    ln_eps: float
    quick_gelu: bool
    ln_pre: bool



BRANCHES: dict[str, Branch] = {
    "dino_vitb16": Branch("dino_vitb16", 16, "cls", IMAGENET_MEAN, IMAGENET_STD, 1e-6, False, False),
    "clip_vitb16": Branch("clip_vitb16", 16, "embedding", OPENAI_MEAN, OPENAI_STD, 1e-5, True, True),
    "open_clip_vitb16": Branch("open_clip_vitb16", 16, "embedding", OPENAI_MEAN, OPENAI_STD, 1e-5, False, True),
    "clip_vitb32": Branch("clip_vitb32", 32, "embedding", OPENAI_MEAN, OPENAI_STD, 1e-5, True, True),
    "open_clip_vitb32": Branch("open_clip_vitb32", 32, "embedding", OPENAI_MEAN, OPENAI_STD, 1e-5, False, True),
}

DREAMSIM_TYPES: dict[str, tuple[str, ...]] = {
    "ensemble": ("dino_vitb16", "clip_vitb16", "open_clip_vitb16"),
    "dino_vitb16": ("dino_vitb16",),
    "clip_vitb32": ("clip_vitb32",),
    "open_clip_vitb32": ("open_clip_vitb32",),
}


def dreamsim_input(image: np.ndarray) -> np.ndarray:
    """``HxWx3`` uint8 → ``3x224x224`` float32 in ``[0, 1]``: PIL bicubic, then ``u8 / 255``."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise UserError(f"DreamSim needs HxWx3 uint8 RGB images, got {arr.dtype} {arr.shape}")
    resized = Image.fromarray(arr).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    return (np.asarray(resized, dtype=np.float32) / np.float32(255.0)).transpose(2, 0, 1).copy()


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _Attention(nn.Module):
    def __init__(self, size: ViTSize) -> None:
        super().__init__()
        self.heads = size.heads
        self.qkv = nn.Linear(size.width, 3 * size.width)
        self.proj = nn.Linear(size.width, size.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (c // h) ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, size: ViTSize, quick: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(size.width, size.mlp)
        self.act = _QuickGELU() if quick else nn.GELU()
        self.fc2 = nn.Linear(size.mlp, size.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, size: ViTSize, eps: float, quick: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(size.width, eps=eps)
        self.attn = _Attention(size)
        self.norm2 = nn.LayerNorm(size.width, eps=eps)
        self.mlp = _Mlp(size, quick)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, stride=patch)


class ViT(nn.Module):
    """One DreamSim branch: a ViT-B/16 or /32 at 224 px in DINO's layout (see module doc)."""

    def __init__(self, branch: Branch, size: ViTSize = VIT_B) -> None:
        super().__init__()
        self.branch = branch
        w = size.width
        n = (IMAGE_SIZE // branch.patch) ** 2
        self.patch_embed = _PatchEmbed(branch.patch, w)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, w))
        self.pos_drop = nn.LayerNorm(w, eps=branch.ln_eps) if branch.ln_pre else nn.Identity()
        self.blocks = nn.ModuleList(_Block(size, branch.ln_eps, branch.quick_gelu) for _ in range(size.depth))
        self.norm = nn.LayerNorm(w, eps=branch.ln_eps)
        if branch.feature == "embedding":
            self.register_buffer("proj", torch.zeros(w, size.embed))
        self.register_buffer("mean", torch.tensor(branch.mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("std", torch.tensor(branch.std, dtype=torch.float32)[:, None, None])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` in ``[0, 1]`` → ``(B, dim)`` features."""
        x = (image - self.mean) / self.std
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.pos_drop(x)
        for block in self.blocks:
            x = block(x)
        if self.branch.feature == "cls":
            return x[:, 0]
        return self.norm(x)[:, 0] @ self.proj


def merge_lora(
    state: dict[str, torch.Tensor], lora: Mapping[str, torch.Tensor], prefix: str, scale: float
) -> dict[str, torch.Tensor]:
    """``blocks.N.attn.qkv.weight += scale · B @ A`` for every block with LoRA tensors
    ``{prefix}blocks.N.attn.qkv.lora_{A,B}.weight``."""
    out = dict(state)
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    for i in range(depth):
        a = lora.get(f"{prefix}blocks.{i}.attn.qkv.lora_A.weight")
        b = lora.get(f"{prefix}blocks.{i}.attn.qkv.lora_B.weight")
        if a is None or b is None:
            raise UserError(f"the DreamSim LoRA weights lack block {i} of {prefix or 'the model'}; "
                            "check that the checkpoint matches --dreamsim-type")
        key = f"blocks.{i}.attn.qkv.weight"
        out[key] = (state[key].double() + scale * (b.double() @ a.double())).to(state[key].dtype)
    return out


class DreamSimNetwork(nn.Module):
    """The branches of one DreamSim type; :meth:`distance` of two batches of inputs."""

    def __init__(self, kind: str, size: ViTSize = VIT_B) -> None:
        super().__init__()
        if kind not in DREAMSIM_TYPES:
            raise UserError(f"--dreamsim-type must be one of {', '.join(DREAMSIM_TYPES)}, got {kind!r}")
        self.kind = kind
        self.branches = nn.ModuleList(ViT(BRANCHES[b], size) for b in DREAMSIM_TYPES[kind])

    @classmethod
    def from_state_dicts(
        cls, kind: str, states: Sequence[Mapping[str, torch.Tensor]], size: ViTSize = VIT_B
    ) -> DreamSimNetwork:
        """Each branch from its DINO-layout state dict (LoRA already merged; CLIP's ``proj``)."""
        model = cls(kind, size)
        for vit, state in zip(model.branches, states, strict=True):
            own = vit.state_dict()
            wanted = [k for k in own if k not in ("mean", "std")]
            missing = [k for k in wanted if k not in state]
            if missing:
                raise UserError(f"DreamSim {vit.branch.name} weights lack {', '.join(missing[:3])}")
            bad = [k for k in wanted if tuple(state[k].shape) != tuple(own[k].shape)]
            if bad:
                raise UserError(f"DreamSim {vit.branch.name} weight {bad[0]} has shape "
                                f"{tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}")
            vit.load_state_dict({**own, **{k: state[k].float() for k in wanted}})
        return model.eval().requires_grad_(False)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Concatenated branch features, centred and L2-normalised (``normalize_embeds``)."""
        e = torch.cat([vit(images) for vit in self.branches], dim=-1)
        e = e - e.mean(dim=1, keepdim=True)
        return e / torch.norm(e, dim=1, keepdim=True)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(N, 3, 224, 224)`` pairs in ``[0, 1]`` → ``(N,)`` distances ``1 − cos``."""
        return 1 - F.cosine_similarity(self.embed(a), self.embed(b), dim=-1)
