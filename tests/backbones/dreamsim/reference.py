"""A re-statement of DreamSim's reference forward (ssundaram21/dreamsim: dreamsim/model.py
``PerceptualModel`` + ``dreamsim()``'s preprocessing, feature_extraction/extractor.py
``ViTExtractor``, vision_transformer.py, load_clip_as_dino.py / load_open_clip_as_dino.py) and
of peft's LoRA ``Linear`` forward, written the way those sources compute: forward hooks on
block 11 for DINO's CLS, ``model(x) @ proj`` for the CLIPs, torchvision's Resize (PIL
bicubic on the PIL image), ToTensor and Normalize, ``normalize_embedding``, 1 − cosine."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
MODELS = {
    "ensemble": (["dino_vitb16", "clip_vitb16", "open_clip_vitb16"], ["cls", "embedding", "embedding"]),
    "dino_vitb16": (["dino_vitb16"], ["cls"]),
    "clip_vitb32": (["clip_vitb32"], ["embedding"]),
    "open_clip_vitb32": (["open_clip_vitb32"], ["embedding"]),
}


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class LoraLinear(nn.Module):
    """peft's ``lora.Linear`` in eval: ``base(x) + lora_B(lora_A(dropout(x))) * scaling``."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.lora_dropout = nn.Dropout(0.3)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C)), attn


class Block(nn.Module):
    def __init__(self, dim, heads, norm_layer):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        y, _ = self.attn(self.norm1(x))
        x = x + y
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, embed_dim=768):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """vit_base of DINO's vision_transformer.py (224 px: no position interpolation); ``dim``
    and ``heads`` smaller in tests (same depth, 12)."""

    def __init__(self, patch_size, dim=768, heads=12):
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.patch_embed = PatchEmbed(patch_size, dim)
        n = (224 // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.pos_drop = nn.Dropout(p=0.0)
        self.blocks = nn.ModuleList([Block(dim, heads, norm_layer) for _ in range(12)])
        self.norm = norm_layer(dim)

    def prepare_tokens(self, x):
        B = x.shape[0]
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        return self.pos_drop(x + self.pos_embed)

    def forward(self, x):
        x = self.prepare_tokens(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


def make_vit(model_type, dim, heads, embed):
    patch = 32 if model_type.endswith("32") else 16
    vit = VisionTransformer(patch, dim, heads)
    proj = None
    if "clip" in model_type:  # load_clip_as_dino / load_open_clip_as_dino
        vit.pos_drop = nn.LayerNorm(dim)
        if not model_type.startswith("open_clip"):
            for blk in vit.blocks:
                blk.mlp.act = QuickGELU()
        for m in vit.modules():
            if isinstance(m, nn.LayerNorm):
                m.eps = 1e-5
        proj = torch.zeros(dim, embed)
    return vit, proj


class Extractor(nn.Module):
    """ViTExtractor: ``extract_descriptors`` (hook on block 11) and ``forward(is_proj=True)``."""

    def __init__(self, model_type, dim, heads, embed):
        super().__init__()
        self.model_type = model_type
        self.model, self.proj = make_vit(model_type, dim, heads, embed)
        self._feats = []

    def extract_descriptors(self, batch, layer=11):
        self._feats = []
        handle = self.model.blocks[layer].register_forward_hook(lambda m, i, o: self._feats.append(o))
        try:
            self.model(batch)
        finally:
            handle.remove()
        x = torch.stack(self._feats, dim=1).unsqueeze(dim=2)
        return x.permute(0, 1, 3, 4, 2).flatten(start_dim=-2, end_dim=-1).unsqueeze(dim=2)

    def forward(self, x, is_proj=True):
        return self.model(x) @ self.proj


class PerceptualModel(nn.Module):
    def __init__(self, kind, r=16, alpha=8, dim=768, heads=12, embed=512):
        super().__init__()
        self.model_list, self.feat_list = MODELS[kind]
        self.extractor_list = nn.ModuleList(Extractor(m, dim, heads, embed) for m in self.model_list)
        for ex in self.extractor_list:  # get_peft_model(target_modules=['qkv'])
            for blk in ex.model.blocks:
                blk.attn.qkv = LoraLinear(blk.attn.qkv, r, alpha)
        self.eval()

    def _preprocess(self, img, model_type):
        mean, std = IMAGENET if "dino" in model_type else OPENAI
        mean = torch.as_tensor(mean, dtype=img.dtype)[:, None, None]
        std = torch.as_tensor(std, dtype=img.dtype)[:, None, None]
        return img.sub(mean).div(std)  # transforms.Normalize

    def embed(self, img):
        feats = []
        for i, (model_type, feat) in enumerate(zip(self.model_list, self.feat_list, strict=True)):
            prep = self._preprocess(img, model_type)
            ex = self.extractor_list[i]
            out = ex.extract_descriptors(prep, 11)[:, :, :, 0, :] if feat == "cls" else ex(prep, is_proj=True)
            feats.append(out.squeeze())
        embed = torch.cat(feats, dim=-1)
        if len(embed.shape) <= 1:
            embed = embed.unsqueeze(0)
        embed = (embed.T - torch.mean(embed, dim=1)).T  # normalize_embedding
        return (embed.T / torch.norm(embed, dim=1)).T

    def forward(self, img_a, img_b):
        return 1 - F.cosine_similarity(self.embed(img_a), self.embed(img_b), dim=-1)

    def branch_state_dicts(self):
        """Each branch in DINO layout with its LoRA merged, as our loader produces them; and
        the LoRA tensors under peft's saved names."""
        states, lora = [], {}
        for i, ex in enumerate(self.extractor_list):
            sd = {}
            for k, v in ex.model.state_dict().items():
                if ".lora_" in k:
                    lora[f"base_model.model.extractor_list.{i}.model.{k.replace('.default', '')}"] = v.clone()
                    continue
                sd[k.replace("qkv.base_layer.", "qkv.")] = v.clone()
            if ex.proj is not None:
                sd["proj"] = ex.proj.clone()
            states.append(sd)
        return states, lora


def preprocess(array):
    """dreamsim()'s ``preprocess``: PIL → Resize((224, 224), BICUBIC) → ToTensor, batch of 1."""
    img = Image.fromarray(array).convert("RGB").resize((224, 224), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)


def random_reference(kind, seed=0, dim=64, heads=4, embed=32):
    """Random weights; narrow (``dim``) by default so the test is fast, ViT-B's depth."""
    torch.manual_seed(seed)
    model = PerceptualModel(kind, dim=dim, heads=heads, embed=embed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "pos_drop" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 0.05)
        for ex in model.extractor_list:
            if ex.proj is not None:
                ex.proj.normal_(0, 0.05)
    return model
