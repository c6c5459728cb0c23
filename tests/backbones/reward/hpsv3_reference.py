"""A plain re-statement of the original HPSv3 reward model (``Qwen2VLRewardModelBT`` of
MizzenAI/HPSv3, transformers ≥ 4.52 layout) on transformers' ``Qwen2VLForConditionalGeneration``,
and a tiny word-level tokenizer with Qwen2-VL's special tokens at the tiny config's ids."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from genmetrics.backbones.reward.hpsv3 import HPSv3Arch, config

SPECIALS = {"<|endoftext|>": 0, "<|im_start|>": 56, "<|im_end|>": 57, "<|vision_start|>": 58,
            "<|vision_end|>": 59, "<|image_pad|>": 60, "<|video_pad|>": 61, "[UNK]": 62}


def tiny_tokenizer_json(path: Path, words: list[str]) -> Path:
    """A WordLevel ``tokenizer.json`` of 63 ids (``<|Reward|>`` gets 63 when added)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    vocab = dict(SPECIALS)
    free = [i for i in range(63) if i not in vocab.values()]
    for i, w in zip(free, words, strict=False):
        vocab[w] = i
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.save(str(path))
    json.loads(path.read_text())
    return path


def original_model(arch: HPSv3Arch, seed: int = 0):
    """``Qwen2VLRewardModelBT`` (rm_head_type "ranknet", rm_head_kwargs None, output_dim 2,
    reward_token "special") with random weights."""
    from transformers import Qwen2VLForConditionalGeneration

    class Original(Qwen2VLForConditionalGeneration):
        def __init__(self, cfg) -> None:
            super().__init__(cfg)
            h1, h2 = arch.head_dims
            self.rm_head = nn.Sequential(nn.Linear(cfg.text_config.hidden_size, h1), nn.ReLU(),
                                         nn.Dropout(0.05), nn.Linear(h1, h2), nn.ReLU(),
                                         nn.Linear(h2, 2))
            self.rm_head.to(torch.float32)
            self.special_token_ids = [arch.reward_token_id]

        def reward(self, input_ids, attention_mask, pixel_values, image_grid_thw):
            inputs_embeds = self.model.language_model.embed_tokens(input_ids)
            visual = self.model.visual  # the original's ``self.visual`` (a property in 4.5x)
            pixel_values = pixel_values.type(visual.get_dtype())
            image_embeds = visual(pixel_values, grid_thw=image_grid_thw)
            image_embeds = getattr(image_embeds, "pooler_output", image_embeds)
            image_mask = (input_ids == self.config.image_token_id).unsqueeze(-1).expand_as(inputs_embeds)
            inputs_embeds = inputs_embeds.masked_scatter(image_mask, image_embeds.to(inputs_embeds.dtype))
            # transformers 4.5x get_rope_index without input_ids: positions from the mask
            position_ids = attention_mask.long().cumsum(-1) - 1
            position_ids = position_ids.masked_fill(attention_mask == 0, 1)
            position_ids = position_ids.unsqueeze(0).expand(3, -1, -1)
            hidden = self.model(input_ids=None, position_ids=position_ids,
                                attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                use_cache=False)[0]
            logits = self.rm_head(hidden.float())  # [B, L, 2]
            special = torch.zeros_like(input_ids, dtype=torch.bool)
            for t in self.special_token_ids:
                special = special | (input_ids == t)
            return logits[special, ...].view(input_ids.shape[0], 1, -1).view(input_ids.shape[0], -1)

    torch.manual_seed(seed)
    cfg = config(arch, attn="eager")
    model = Original(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model
