"""PickScore v1 (Kirstain et al. 2023, "Pick-a-Pic"): CLIP ViT-H-14 fine-tuned on human
preferences, as a transformers ``CLIPModel`` (``yuvalkirstain/PickScore_v1``, pinned commit and
sha256 in :data:`genmetrics.backbones.clip.hf.HF_CLIP_PRESETS`).

Preprocessing is the processor the reference code loads, ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``
(transformers' PIL ``CLIPImageProcessor``): shortest side to 224 with PIL bicubic, centre crop
224 with ``top = (h - 224) // 2``, /255, OpenAI mean/std. Texts: CLIP BPE, 77 tokens.

Score of image ``x`` for prompt ``t``: ``s = exp(logit_scale) · cos(E_img(x), E_txt(t))``
(``exp(logit_scale)`` read from the checkpoint, about 100 for CLIP-style training), so
``softmax(s_1..s_k)`` over images of one prompt is the model's preference probability.
The backbone emits ``embed`` and ``logit_scale`` (the scalar repeated per image, so the metric
needs no extra service).
"""

from __future__ import annotations

import numpy as np

from genmetrics.backbones.clip.hf import HF_CLIP_PRESETS, HfClipBackbone, create_hf_clip
from genmetrics.backbones.registry import BackboneOptions, register_backbone

NAME = "pickscore"


class PickScoreBackbone(HfClipBackbone):
    """PickScore's CLIP-H: ``embed`` (unnormalised image embedding) and ``logit_scale``."""

    outputs = ("embed", "logit_scale")

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = super().forward(batch)
        n = out["embed"].shape[0]
        out["logit_scale"] = np.full((n, 1), self.logit_scale, dtype=np.float32)
        return out

    def manifest(self):
        return {**super().manifest(), "logit_scale_exp": self.logit_scale,
                "processor": HF_CLIP_PRESETS[NAME].processor_repo}


def create(options: BackboneOptions) -> PickScoreBackbone:
    return create_hf_clip(NAME, options, HF_CLIP_PRESETS[NAME], cls=PickScoreBackbone)


def register() -> None:
    register_backbone(NAME, create, requires=("transformers",), weights=(HF_CLIP_PRESETS[NAME].repo,))
