"""``ClipEncoder``: a transformers ``CLIPModel`` with CLIP's own embedding heads.

``encode_image``: ViT on the preprocessed pixels, class token → ``post_layernorm`` →
``visual_projection``. ``encode_text``: causal text transformer → ``final_layer_norm``, taken at
the end token, found as the argmax of the ids as OpenAI CLIP and open_clip do (the end token
49407 is the largest id), → ``text_projection``. The pooling is done here rather than by
transformers, whose choice depends on the config's ``eos_token_id`` and its version. Neither
embedding is normalised. transformers is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from genmetrics.backbones.clip.configs import ClipArch, clip_config
from genmetrics.optional import require


def _reset_position_ids(model: nn.Module) -> None:
    """Refill the non-persistent ``position_ids`` buffers (left empty by a meta-device build)."""
    for module in model.modules():
        ids = getattr(module, "position_ids", None)
        if isinstance(ids, torch.Tensor):
            module.position_ids = torch.arange(ids.shape[-1], device=ids.device).expand(1, -1)


class ClipEncoder(nn.Module):
    """Image and text embeddings of one CLIP model (projected, not normalised)."""

    def __init__(self, arch: ClipArch, model: nn.Module) -> None:
        super().__init__()
        self.arch = arch
        self.model = model

    @classmethod
    def random(cls, arch: ClipArch, seed: int = 0) -> ClipEncoder:
        """Randomly initialised model (tests)."""
        CLIPModel = require("transformers", "CLIP-family models").CLIPModel

        torch.manual_seed(seed)
        return cls(arch, CLIPModel(clip_config(arch)).eval())

    @classmethod
    def from_state_dict(
        cls,
        arch: ClipArch,
        state_dict: Mapping[str, torch.Tensor],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> ClipEncoder:
        """Build from a transformers-layout state dict (as :mod:`.convert` writes), strictly."""
        CLIPModel = require("transformers", "CLIP-family models").CLIPModel

        with torch.device("meta"):
            model = CLIPModel(clip_config(arch))
        model = model.to_empty(device=device).to(dtype)
        model.load_state_dict(dict(state_dict), strict=True)
        _reset_position_ids(model)
        return cls(arch, model.eval())

    @property
    def dtype(self) -> torch.dtype:
        return self.model.visual_projection.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.visual_projection.weight.device

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """N×3×S×S normalised pixels → N×embed_dim."""
        pixels = pixel_values.to(device=self.device, dtype=self.dtype)
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output
        return self.model.visual_projection(pooled)

    def encode_text(self, token_ids: torch.Tensor) -> torch.Tensor:
        """N×77 CLIP token ids (see :mod:`.tokenizer`) → N×embed_dim."""
        ids = token_ids.to(device=self.device, dtype=torch.long)
        hidden = self.model.text_model(input_ids=ids).last_hidden_state
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), ids.argmax(dim=-1)]
        return self.model.text_projection(pooled)
