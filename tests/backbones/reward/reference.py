"""A plain re-statement of ImageReward's original forward, on a state dict in the ORIGINAL
key layout (``blip.visual_encoder.*``, ``blip.text_encoder.*``, ``mlp.layers.*``): the BLIP
timm-style ViT (pre-norm blocks, LayerNorm eps 1e-6, qkv with bias, exact GELU, final norm on
all tokens), BLIP's BERT (word + absolute position embeddings, post-norm layers with
self-attention masked by ``(1 - mask) · -10000``, cross-attention to the image tokens,
LayerNorm eps 1e-12), the [CLS] output through the 5 linears, then ``(r - mean) / std``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genmetrics.backbones.reward.imagereward import REWARD_MEAN, REWARD_STD, ImageRewardArch


def random_original_state(arch: ImageRewardArch, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under ImageReward.pt's keys and shapes (plus the unused projections)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.2):
        return torch.randn(*shape, generator=g) * scale

    D, T = arch.vision_width, arch.text_width
    n = (arch.image_size // arch.patch_size) ** 2 + 1
    sd: dict[str, torch.Tensor] = {}
    v = "blip.visual_encoder."
    sd[v + "cls_token"] = r(1, 1, D)
    sd[v + "pos_embed"] = r(1, n, D)
    sd[v + "patch_embed.proj.weight"] = r(D, 3, arch.patch_size, arch.patch_size, scale=0.05)
    sd[v + "patch_embed.proj.bias"] = r(D)
    for i in range(arch.vision_layers):
        b = f"{v}blocks.{i}."
        for ln in ("norm1", "norm2"):
            sd[b + ln + ".weight"] = 1 + r(D)
            sd[b + ln + ".bias"] = r(D)
        sd[b + "attn.qkv.weight"] = r(3 * D, D)
        sd[b + "attn.qkv.bias"] = r(3 * D)
        sd[b + "attn.proj.weight"] = r(D, D)
        sd[b + "attn.proj.bias"] = r(D)
        sd[b + "mlp.fc1.weight"] = r(4 * D, D)
        sd[b + "mlp.fc1.bias"] = r(4 * D)
        sd[b + "mlp.fc2.weight"] = r(D, 4 * D)
        sd[b + "mlp.fc2.bias"] = r(D)
    sd[v + "norm.weight"] = 1 + r(D)
    sd[v + "norm.bias"] = r(D)
    t = "blip.text_encoder."
    sd[t + "embeddings.word_embeddings.weight"] = r(arch.vocab_size, T)
    sd[t + "embeddings.position_embeddings.weight"] = r(arch.max_positions, T)
    sd[t + "embeddings.position_ids"] = torch.arange(arch.max_positions)[None]
    sd[t + "embeddings.LayerNorm.weight"] = 1 + r(T)
    sd[t + "embeddings.LayerNorm.bias"] = r(T)
    for i in range(arch.text_layers):
        b = f"{t}encoder.layer.{i}."
        for att, kv in (("attention", T), ("crossattention", D)):
            sd[b + f"{att}.self.query.weight"] = r(T, T)
            sd[b + f"{att}.self.query.bias"] = r(T)
            sd[b + f"{att}.self.key.weight"] = r(T, kv)
            sd[b + f"{att}.self.key.bias"] = r(T)
            sd[b + f"{att}.self.value.weight"] = r(T, kv)
            sd[b + f"{att}.self.value.bias"] = r(T)
            sd[b + f"{att}.output.dense.weight"] = r(T, T)
            sd[b + f"{att}.output.dense.bias"] = r(T)
            sd[b + f"{att}.output.LayerNorm.weight"] = 1 + r(T)
            sd[b + f"{att}.output.LayerNorm.bias"] = r(T)
        sd[b + "intermediate.dense.weight"] = r(4 * T, T)
        sd[b + "intermediate.dense.bias"] = r(4 * T)
        sd[b + "output.dense.weight"] = r(T, 4 * T)
        sd[b + "output.dense.bias"] = r(T)
        sd[b + "output.LayerNorm.weight"] = 1 + r(T)
        sd[b + "output.LayerNorm.bias"] = r(T)
    sd["blip.vision_proj.weight"] = r(8, D)
    sd["blip.vision_proj.bias"] = r(8)
    sd["blip.text_proj.weight"] = r(8, T)
    sd["blip.text_proj.bias"] = r(8)
    dims = (T, *arch.mlp_dims, 1)
    for idx, (a, b_) in zip((0, 2, 4, 6, 7), zip(dims[:-1], dims[1:], strict=True), strict=True):
        sd[f"mlp.layers.{idx}.weight"] = r(b_, a)
        sd[f"mlp.layers.{idx}.bias"] = r(b_)
    return sd


def _mha(q_in, kv_in, wq, bq, wk, bk, wv, bv, heads, add_mask=None):
    B, Nq, C = q_in.shape
    d = C // heads
    q = F.linear(q_in, wq, bq).view(B, Nq, heads, d).transpose(1, 2)
    k = F.linear(kv_in, wk, bk).view(B, kv_in.shape[1], heads, d).transpose(1, 2)
    v = F.linear(kv_in, wv, bv).view(B, kv_in.shape[1], heads, d).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / d**0.5
    if add_mask is not None:
        scores = scores + add_mask
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, Nq, C)


def reference_reward(sd, arch: ImageRewardArch, pixels, ids, mask) -> torch.Tensor:
    """The original computation, written out (float64 recommended)."""
    v = "blip.visual_encoder."
    D, H = arch.vision_width, arch.vision_heads
    x = F.conv2d(pixels, sd[v + "patch_embed.proj.weight"], sd[v + "patch_embed.proj.bias"],
                 stride=arch.patch_size)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd[v + "cls_token"].expand(x.shape[0], -1, -1), x], 1) + sd[v + "pos_embed"]
    for i in range(arch.vision_layers):
        b = f"{v}blocks.{i}."
        h = F.layer_norm(x, (D,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], 1e-6)
        qkv = F.linear(h, sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"])
        Bn, N, _ = qkv.shape
        qkv = qkv.reshape(Bn, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        att = (qkv[0] @ qkv[1].transpose(-2, -1)) * (D // H) ** -0.5
        h = (att.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(Bn, N, D)
        x = x + F.linear(h, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
        h = F.layer_norm(x, (D,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], 1e-6)
        h = F.linear(F.gelu(F.linear(h, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"])),
                     sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])
        x = x + h
    image = F.layer_norm(x, (D,), sd[v + "norm.weight"], sd[v + "norm.bias"], 1e-6)

    t = "blip.text_encoder."
    T, TH = arch.text_width, arch.text_heads
    L = ids.shape[1]
    h = sd[t + "embeddings.word_embeddings.weight"][ids] + sd[t + "embeddings.position_embeddings.weight"][:L]
    h = F.layer_norm(h, (T,), sd[t + "embeddings.LayerNorm.weight"], sd[t + "embeddings.LayerNorm.bias"], 1e-12)
    add = (1.0 - mask[:, None, None, :].to(h.dtype)) * -10000.0
    for i in range(arch.text_layers):
        b = f"{t}encoder.layer.{i}."
        for att, kv, m in (("attention", None, add), ("crossattention", image, None)):
            p = f"{b}{att}."
            ctx = _mha(h, h if kv is None else kv, sd[p + "self.query.weight"], sd[p + "self.query.bias"],
                       sd[p + "self.key.weight"], sd[p + "self.key.bias"],
                       sd[p + "self.value.weight"], sd[p + "self.value.bias"], TH, m)
            h = F.layer_norm(F.linear(ctx, sd[p + "output.dense.weight"], sd[p + "output.dense.bias"]) + h,
                             (T,), sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"], 1e-12)
        inter = F.gelu(F.linear(h, sd[b + "intermediate.dense.weight"], sd[b + "intermediate.dense.bias"]))
        h = F.layer_norm(F.linear(inter, sd[b + "output.dense.weight"], sd[b + "output.dense.bias"]) + h,
                         (T,), sd[b + "output.LayerNorm.weight"], sd[b + "output.LayerNorm.bias"], 1e-12)
    r = h[:, 0, :]
    for idx in (0, 2, 4, 6, 7):
        r = F.linear(r, sd[f"mlp.layers.{idx}.weight"], sd[f"mlp.layers.{idx}.bias"])
    return (r[:, 0] - REWARD_MEAN) / REWARD_STD
