"""CLIP-family models as registered backbones (image side) and text encoders (text side).

One instance serves both sides of one model, so a run loads each model once. Names:
``clip-vit-b-32``, ``clip-vit-b-16``, ``clip-vit-l-14``, ``clip-vit-l-14-336`` (OpenAI CLIP,
OpenAI preprocessing), ``openclip-vit-h-14`` (LAION-2B) and ``hps-v2.0`` / ``hps-v2.1``
(OpenCLIP ViT-H-14 fine-tuned by HPS v2, with the HPS preprocessing: longest side to 224,
bicubic with antialiasing, zero padding to a square).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone, BackboneOptions, TextBackbone, register_backbone
from genmetrics.errors import UserError
from genmetrics.optional import require


def text_cache_key(name: str, weights_sha256: str, dtype: str) -> str:
    """Cache identity of a CLIP text encoder's embeddings: weights, text cleaning, dtype."""
    from genmetrics.backbones.clip.tokenizer import default_tokenizer

    cleaning = "ftfy" if default_tokenizer().uses_ftfy else "basic"
    return f"{name}/{weights_sha256[:16]}/text-{cleaning}/{dtype}/v1"


@dataclass(frozen=True)
class ClipModelSpec:
    """A registered CLIP-family backbone: its architecture, weights and preprocessing."""

    name: str
    arch: str
    weights: str
    preprocess: str  # "openai" or "hps"
    description: str


CLIP_MODELS: dict[str, ClipModelSpec] = {
    s.name: s
    for s in (
        ClipModelSpec(
            "clip-vit-b-32", "ViT-B-32", "clip-vit-b-32-openai", "openai", "OpenAI CLIP ViT-B/32"
        ),
        ClipModelSpec(
            "clip-vit-b-16", "ViT-B-16", "clip-vit-b-16-openai", "openai", "OpenAI CLIP ViT-B/16"
        ),
        ClipModelSpec(
            "clip-vit-l-14", "ViT-L-14", "clip-vit-l-14-openai", "openai", "OpenAI CLIP ViT-L/14"
        ),
        ClipModelSpec(
            "clip-vit-l-14-336",
            "ViT-L-14-336",
            "clip-vit-l-14-336-openai",
            "openai",
            "OpenAI CLIP ViT-L/14@336px",
        ),
        ClipModelSpec(
            "openclip-vit-h-14",
            "ViT-H-14",
            "clip-vit-h-14-laion2b",
            "openai",
            "OpenCLIP ViT-H-14 laion2b_s32b_b79k",
        ),
        ClipModelSpec("hps-v2.0", "ViT-H-14", "hps-v2.0", "hps", "HPS v2.0 (OpenCLIP ViT-H-14)"),
        ClipModelSpec("hps-v2.1", "ViT-H-14", "hps-v2.1", "hps", "HPS v2.1 (OpenCLIP ViT-H-14)"),
    )
}

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class ClipBackbone(Backbone, TextBackbone):
    """Image embeddings (output ``embed``) and text embeddings of one CLIP-family model."""

    outputs = ("embed",)

    allow_tf32 = False
    """TF32 for float32 matmuls on CUDA (off unless asked: see :meth:`create`)."""
    uint8_inputs = False
    """Whether :meth:`preprocess` leaves uint8 pixels that :meth:`forward` normalises."""
    _feed: Any = None

    def __init__(
        self, spec: ClipModelSpec, encoder: Any, weights_sha256: str, dtype: str = "fp32"
    ) -> None:
        from genmetrics.backbones.clip.preprocess import hps_preprocess, resize_shortest_center_crop

        self.spec = spec
        self.name = spec.name
        self.encoder = encoder.eval()
        self.weights_sha256 = weights_sha256
        self.dtype = dtype
        size = encoder.arch.image_size
        # OpenAI and CMMD preprocessing end in a normalisation of uint8 pixels: the host
        # sends the uint8 pixels and the device normalises them (bit-identical on the CPU);
        # HPS resizes floats, so its inputs leave the host normalised
        self.uint8_inputs = spec.preprocess != "hps"
        if spec.preprocess == "hps":
            self._pre = lambda image: hps_preprocess(image, size)
        else:
            self._pre = lambda image: resize_shortest_center_crop(image, size)

    @classmethod
    def create(cls, spec: ClipModelSpec, options: BackboneOptions) -> ClipBackbone:
        import torch

        from genmetrics.backbones.clip.weights import clip_weight_spec, load_clip
        from genmetrics.weights.store import ensure_weights, file_sha256

        if options.dtype not in _DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(_DTYPES)} for {spec.name}")
        require("transformers", f"{spec.name} (CLIP-family metrics)")
        sha = file_sha256(ensure_weights(clip_weight_spec(spec.weights), options.offline))
        encoder = load_clip(
            spec.weights,
            device=options.device,
            dtype=getattr(torch, _DTYPES[options.dtype]),
            offline=options.offline,
        )
        backbone = cls(spec, encoder, sha, options.dtype)
        backbone.allow_tf32 = options.allow_tf32 and options.dtype == "fp32" and "cuda" in options.device
        return backbone

    @property
    def key(self) -> str:
        # hps-r2: bit-exact hpsv2 preprocessing (float resize); r1 resized uint8 with PIL
        pre = "hps-r2" if self.spec.preprocess == "hps" else self.spec.preprocess
        dtype = f"{self.dtype}-tf32" if self.allow_tf32 else self.dtype
        return f"{self.name}/{self.weights_sha256[:16]}/{pre}/{dtype}/v1"

    @property
    def text_key(self) -> str:
        return text_cache_key(self.name, self.weights_sha256, self.dtype)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return self._pre(image)

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from genmetrics.backbones.clip.preprocess import OPENAI_MEAN, OPENAI_STD
        from genmetrics.backbones.feed import DeviceFeed
        from genmetrics.devices import float32_precision

        if self._feed is None:
            self._feed = DeviceFeed(self.encoder.device)
        with torch.inference_mode(), float32_precision(self.allow_tf32):
            if self.uint8_inputs:
                x = self._feed.normalized(batch, OPENAI_MEAN, OPENAI_STD)
            else:
                x = self._feed.put(batch)
            emb = self.encoder.encode_image(x)
        return {"embed": emb.float().cpu().numpy()}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from genmetrics.backbones.clip.tokenizer import tokenize

        ids, _ = tokenize(list(texts))
        with torch.inference_mode():
            emb = self.encoder.encode_text(ids)
        return emb.float().cpu().numpy()

    @staticmethod
    def count_truncated(texts: Sequence[str]) -> int:
        """How many texts exceed the 77-token context (and were cut, keeping the end token)."""
        from genmetrics.backbones.clip.tokenizer import tokenize

        return int(sum(tokenize(list(dict.fromkeys(texts)))[1])) if texts else 0

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "network": self.spec.description,
            "architecture": self.encoder.arch.name,
            "weights_sha256": self.weights_sha256,
            "preprocess": self.spec.preprocess,
            "image_size": self.encoder.arch.image_size,
            "dtype": self.dtype,
            "tf32": self.allow_tf32,
        }


def register() -> None:
    from genmetrics.backbones.clip.weights import register_clip_weights

    register_clip_weights()
    for spec in CLIP_MODELS.values():
        register_backbone(
            spec.name,
            lambda options, spec=spec: ClipBackbone.create(spec, options),
            requires=("transformers",),
            weights=(spec.weights,),
        )
