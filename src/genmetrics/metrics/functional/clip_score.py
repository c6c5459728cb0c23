"""CLIP-space similarities between embeddings (pure float64 functions).

CLIP score conventions (they differ between tools; the choice is recorded in the manifest):

- ``torchmetrics``: per image ``100·cos(E_I, E_T)``; the aggregate is ``max(mean, 0)``
  (torchmetrics' ``CLIPScore``). Default.
- ``hessel``: per image ``2.5·max(cos, 0)`` (Hessel et al. 2021, "CLIPScore", w = 2.5).
- ``cosine``: the plain cosine per image.

Directional similarity (Gal et al. 2022, StyleGAN-NADA; used for InstructPix2Pix):
``cos(E_I(edited) − E_I(source), E_T(target) − E_T(source))``.
"""

from __future__ import annotations

import numpy as np

from genmetrics.errors import UserError

CONVENTIONS = ("torchmetrics", "hessel", "cosine")


def normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays."""
    return np.sum(normalize(a) * normalize(b), axis=-1)


def clip_score(image_embeds: np.ndarray, text_embeds: np.ndarray, convention: str = "torchmetrics") -> tuple[np.ndarray, float]:
    """Per-image scores and the aggregate under ``convention`` (see module docstring)."""
    cos = cosine(image_embeds, text_embeds)
    if convention == "torchmetrics":
        per = 100.0 * cos
        return per, float(max(per.mean(), 0.0))
    if convention == "hessel":
        per = 2.5 * np.maximum(cos, 0.0)
        return per, float(per.mean())
    if convention == "cosine":
        return cos, float(cos.mean())
    raise UserError(f"unknown CLIP score convention '{convention}'; choose one of {', '.join(CONVENTIONS)}")


def directional_similarity(
    source_images: np.ndarray, edited_images: np.ndarray, source_texts: np.ndarray, target_texts: np.ndarray
) -> np.ndarray:
    """Per-row cos(ΔE_I, ΔE_T) on L2-normalised embeddings (the common implementation)."""
    d_img = normalize(edited_images) - normalize(source_images)
    d_txt = normalize(target_texts) - normalize(source_texts)
    return cosine(d_img, d_txt)


def hps_score(image_embeds: np.ndarray, text_embeds: np.ndarray) -> np.ndarray:
    """HPS v2: 100 · cosine of the normalised image and text embeddings (Wu et al. 2023)."""
    return 100.0 * cosine(image_embeds, text_embeds)
