"""Preference-model scores of text-to-image outputs: PickScore, ImageReward and HPSv3.

Both are per-image metrics (a score per image against its prompt, mean ± std and a 95%
percentile-bootstrap CI of the mean), usable by ``benchmark`` and ``compare`` like ``hps``.

* ``pickscore`` (Kirstain et al. 2023): ``s = exp(logit_scale) · cos(E_img, E_txt)`` on
  PickScore v1's CLIP-H (``exp(logit_scale)`` from the checkpoint; scale ≈ 0…exp(logit_scale),
  typically around 20–23 for matching pairs). Image embeddings come from the one pass, text
  embeddings from the cached text encoder. :func:`preference_probability` turns the scores
  of two variants of one prompt into PickScore's softmax preference, which ``compare``
  reports (:data:`PREFERENCE_METRICS`).
* ``imagereward`` (Xu et al. 2023): the standardised reward ``(r - 0.16717…) / 1.03333…`` of
  BLIP + MLP; unbounded, about N(0, 1) over the original training prompts. The prompt is
  inside the forward (cached per image and prompt); prompts over 35 BERT tokens are cut as
  the original does and counted (``prompts_truncated``).

* ``hpsv3`` (Ma et al. 2025): μ of the (μ, σ) that HPSv3's Qwen2-VL-7B reward head predicts
  for the image and its prompt; unbounded, no normalisation (the paper's examples lie roughly
  in 0–15), higher is better. The mean predicted σ is reported as ``mean_sigma``. Optional
  extra ``genmetrics[hpsv3]``; bf16 on GPU. Its weights carry no published sha256 yet, so the
  backbone refuses to load them (see :mod:`genmetrics.backbones.reward.hpsv3`).

MPS is not available (see :mod:`genmetrics.backbones.reward`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue, register_metric
from genmetrics.stats.bootstrap import mean_std_ci

DEFAULT_OPTIONS: dict[str, Any] = {}

PICKSCORE = "pickscore"
IMAGEREWARD = "imagereward"
HPSV3 = "hpsv3"
PREFERENCE_METRICS = frozenset({PICKSCORE})
"""Per-image metrics whose scores are softmax logits over images of one prompt: ``compare``
also reports ``P(variant preferred) = softmax(s_baseline, s_variant)[variant]``."""


# --- pure math (float64) ----------------------------------------------------------------------


def pickscore(image_embeds: np.ndarray, text_embeds: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """PickScore per image: ``scale · <x/|x|, t/|t|>`` (float64).

    ``image_embeds`` and ``text_embeds`` are (N, D) unnormalised projections of the same
    images/prompts; ``scale`` is ``exp(logit_scale)`` (scalar or per image)."""
    x = np.asarray(image_embeds, dtype=np.float64)
    t = np.asarray(text_embeds, dtype=np.float64)
    if x.shape != t.shape:
        raise ValueError(f"image embeddings {x.shape} and text embeddings {t.shape} differ")
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return np.asarray(scale, dtype=np.float64) * np.einsum("nd,nd->n", x, t)


def preference_probability(baseline: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """PickScore's softmax over two images of one prompt, the variant's share:
    ``exp(v) / (exp(b) + exp(v)) = 1 / (1 + exp(b - v))`` (computed stably, float64)."""
    d = np.asarray(variant, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    out = np.empty_like(d)
    pos = d >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-d[pos]))
    e = np.exp(d[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softmax_preferences(scores: np.ndarray) -> np.ndarray:
    """Softmax over the scores of k images of one prompt (PickScore's ``probs``)."""
    s = np.asarray(scores, dtype=np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


# --- metrics --------------------------------------------------------------------------------


def _prompts(ctx: MetricContext, metric: str) -> list[str]:
    if ctx.services.prompts is None:
        raise UserError(f"{metric} needs a prompt per image: pass --prompts FILE (or sidecar .txt files)")
    return [r.prompt for r in ctx.services.prompts]


def _value(name: str, scores: np.ndarray, seed: int, **extra: Any) -> MetricValue:
    scores = np.asarray(scores, dtype=np.float64)
    s = mean_std_ci(scores, seed=seed)
    return MetricValue(s.mean, std=s.std, ci=(s.ci_low, s.ci_high), extra={"n": s.n, **extra},
                       per_image={name: scores})


def _truncated(ctx: MetricContext, backbone: str, texts: list[str]) -> int:
    return int(ctx.services.count_truncated(backbone, texts))


def _pickscore(ctx: MetricContext) -> MetricValue:
    texts = _prompts(ctx, PICKSCORE)
    scale = ctx.generated.array(PICKSCORE, "logit_scale")[:, 0]
    per = pickscore(ctx.generated.array(PICKSCORE, "embed"),
                    ctx.services.encode_texts(PICKSCORE, texts), scale)
    return _value(PICKSCORE, per, int(ctx.options["seed"]),
                  logit_scale_exp=float(scale[0]) if len(scale) else None,
                  prompts_truncated=_truncated(ctx, PICKSCORE, texts))


def _imagereward(ctx: MetricContext) -> MetricValue:
    texts = _prompts(ctx, IMAGEREWARD)
    per = ctx.generated.array(IMAGEREWARD, "reward")[:, 0]
    return _value(IMAGEREWARD, per, int(ctx.options["seed"]),
                  prompts_truncated=_truncated(ctx, IMAGEREWARD, texts), max_tokens=35)


def _hpsv3(ctx: MetricContext) -> MetricValue:
    _prompts(ctx, HPSV3)
    per = ctx.generated.array(HPSV3, "reward")[:, 0]
    sigma = ctx.generated.array(HPSV3, "sigma")[:, 0].astype(np.float64)
    return _value(HPSV3, per, int(ctx.options["seed"]),
                  mean_sigma=float(sigma.mean()) if len(sigma) else None, scale="unbounded (mu)")


def register() -> None:
    register_metric(MetricSpec(
        PICKSCORE, "PickScore v1: exp(logit_scale)·cos on its CLIP-H (Kirstain et al. 2023)",
        _pickscore,
        generated=lambda o: (FeatureRequest(PICKSCORE, "embed"), FeatureRequest(PICKSCORE, "logit_scale")),
        needs_prompts=True, min_images=1, group="text-image"))
    register_metric(MetricSpec(
        IMAGEREWARD, "ImageReward v1.0 standardised reward (BLIP + MLP, Xu et al. 2023)",
        _imagereward, generated=lambda o: (FeatureRequest(IMAGEREWARD, "reward"),),
        needs_prompts=True, min_images=1, group="text-image"))
    register_metric(MetricSpec(
        HPSV3, "HPSv3 score: mu of its Qwen2-VL reward head, unbounded (Ma et al. 2025)",
        _hpsv3, generated=lambda o: (FeatureRequest(HPSV3, "reward"), FeatureRequest(HPSV3, "sigma")),
        needs_prompts=True, min_images=1, group="text-image"))
