"""Text–image metrics on CLIP-family embeddings: CLIP score, directional and image similarity,
LAION aesthetic score, HPS v2/v2.1, zero-shot object precision/recall.

Per-image metrics put their scores in the per-image table (column = metric name) and report
mean, std (ddof=1) and a 95% percentile-bootstrap CI of the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.functional.clip_score import (
    CONVENTIONS,
    clip_score,
    cosine,
    directional_similarity,
    hps_score,
)
from genmetrics.metrics.functional.zero_shot import object_precision_recall, zero_shot_classify
from genmetrics.metrics.options import MetricOption, declare_options
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue, register_metric
from genmetrics.stats.bootstrap import mean_std_ci

HPS_VERSIONS = {"v2.0": "hps-v2.0", "v2.1": "hps-v2.1"}

OPTIONS = (
    MetricOption("clip_model", "clip-vit-l-14", "Backbone for clip_score, the directional and object metrics.", str),
    MetricOption("clip_score_convention", "torchmetrics", "torchmetrics (100·cos, mean clamped at 0), hessel (2.5·max(cos,0)) or cosine.", str, choices=CONVENTIONS),
    MetricOption("hps_version", "v2.1", "HPS weights: v2.0 or v2.1.", str, choices=tuple(HPS_VERSIONS)),
    MetricOption("aesthetic_head", "improved", "improved (MLP, ViT-L/14) or v1 (linear).", str, choices=("improved", "v1")),
    MetricOption("aesthetic_model", "clip-vit-l-14", "CLIP backbone under the aesthetic head.", str),
    MetricOption("labels", None, "Comma-separated label set for object_precision/recall.", list),
    MetricOption("label_template", "a photo of a {}", "Prompt template of the zero-shot labels.", str),
)
"""The options of the text–image metrics (declared once; the CLI flags come from here)."""
AESTHETIC_HEADS = {
    ("improved", "clip-vit-l-14"): "aesthetic-laion-improved-l14",
    ("v1", "clip-vit-l-14"): "aesthetic-laion-v1-l14",
    ("v1", "clip-vit-b-32"): "aesthetic-laion-v1-b32",
}


def _embed(name: str):
    return (FeatureRequest(name, "embed"),)


def _per_image_value(name: str, scores: np.ndarray, seed: int, **extra: Any) -> MetricValue:
    s = mean_std_ci(np.asarray(scores, dtype=np.float64), seed=seed)
    return MetricValue(s.mean, std=s.std, ci=(s.ci_low, s.ci_high), extra={"n": s.n, **extra},
                       per_image={name: np.asarray(scores, dtype=np.float64)})


def _prompts(ctx: MetricContext, metric: str) -> list[str]:
    if ctx.services.prompts is None:
        raise UserError(f"{metric} needs a prompt per image: pass --prompts FILE (or sidecar .txt files)")
    return [r.prompt for r in ctx.services.prompts]


def _texts(ctx: MetricContext, model: str, texts: list[str]) -> np.ndarray:
    return ctx.services.encode_texts(model, texts)


def _truncated(ctx: MetricContext, model: str, texts: list[str]) -> int:
    return ctx.services.count_truncated(model, texts)


# --- CLIP score -----------------------------------------------------------------------------


def _clip_score(ctx: MetricContext) -> MetricValue:
    model = ctx.options["clip_model"]
    convention = ctx.options["clip_score_convention"]
    if convention not in CONVENTIONS:
        raise UserError(f"--clip-score-convention must be one of {', '.join(CONVENTIONS)}")
    texts = _prompts(ctx, "clip_score")
    per, agg = clip_score(ctx.generated.array(model, "embed"), _texts(ctx, model, texts), convention)
    value = _per_image_value("clip_score", per, int(ctx.options["seed"]), convention=convention,
                             model=model, prompts_truncated=_truncated(ctx, model, texts))
    value.value = agg  # the convention's aggregate (torchmetrics clamps the mean at 0)
    return value


# --- directional / image similarity (editing) ------------------------------------------------


def _sources(ctx: MetricContext, metric: str, model: str) -> np.ndarray:
    if ctx.services.prompts is None:
        raise UserError(f"{metric} needs a manifest (--prompts) with a 'source_image' per edited image")
    return ctx.services.source_embeds(model)


def _clip_directional(ctx: MetricContext) -> MetricValue:
    model = ctx.options["clip_model"]
    records = ctx.services.prompts or []
    src_captions = [r.get("source_prompt") for r in records]
    if not records or any(c is None for c in src_captions):
        raise UserError("clip_directional needs 'source_prompt' (and 'source_image') in the --prompts manifest")
    targets = _prompts(ctx, "clip_directional")
    per = directional_similarity(
        _sources(ctx, "clip_directional", model), ctx.generated.array(model, "embed"),
        _texts(ctx, model, src_captions), _texts(ctx, model, targets),
    )
    return _per_image_value("clip_directional", per, int(ctx.options["seed"]), model=model)


def _clip_image_similarity(ctx: MetricContext) -> MetricValue:
    model = ctx.options["clip_model"]
    per = cosine(_sources(ctx, "clip_image_similarity", model), ctx.generated.array(model, "embed"))
    return _per_image_value("clip_image_similarity", per, int(ctx.options["seed"]), model=model)


# --- aesthetic and HPS -----------------------------------------------------------------------


def _aesthetic(ctx: MetricContext) -> MetricValue:
    model, head_kind = ctx.options["aesthetic_model"], ctx.options["aesthetic_head"]
    head_name = AESTHETIC_HEADS.get((head_kind, model))
    if head_name is None:
        raise UserError(f"no '{head_kind}' aesthetic head for {model}; use --aesthetic-head improved (ViT-L/14) or v1")
    scores = ctx.services.aesthetic_head(head_name, ctx.generated.array(model, "embed"))
    return _per_image_value("aesthetic", scores, int(ctx.options["seed"]), head=head_name, model=model)


def _hps_model(options: dict) -> str:
    version = options["hps_version"]
    if version not in HPS_VERSIONS:
        raise UserError(f"--hps-version must be one of {', '.join(HPS_VERSIONS)}")
    return HPS_VERSIONS[version]


def _hps(ctx: MetricContext) -> MetricValue:
    model = _hps_model(ctx.options)
    texts = _prompts(ctx, "hps")
    per = hps_score(ctx.generated.array(model, "embed"), _texts(ctx, model, texts))
    return _per_image_value("hps", per, int(ctx.options["seed"]), version=ctx.options["hps_version"],
                            prompts_truncated=_truncated(ctx, model, texts))


# --- zero-shot object precision / recall -----------------------------------------------------


def _zero_shot(ctx: MetricContext):
    if "zero_shot" in ctx.memo:
        return ctx.memo["zero_shot"]
    model = ctx.options["clip_model"]
    records = ctx.services.prompts or []
    intended = [r.get("label") or r.get("class") for r in records]
    if not records or any(x is None for x in intended):
        raise UserError("object_precision/recall need a 'label' (intended class) per image in the --prompts manifest")
    labels = ctx.options.get("labels")
    labels = list(dict.fromkeys(labels if labels else sorted(set(intended))))
    unknown = sorted(set(intended) - set(labels))
    if unknown:
        raise UserError(f"intended classes not in the label set: {', '.join(unknown[:5])}; add them to --labels")
    template = ctx.options["label_template"]
    label_embeds = _texts(ctx, model, [template.format(label) for label in labels])
    predicted = zero_shot_classify(ctx.generated.array(model, "embed"), label_embeds)
    index = {label: i for i, label in enumerate(labels)}
    result = object_precision_recall(np.array([index[x] for x in intended]), predicted, labels)
    ctx.memo["zero_shot"] = result
    return result


def _zero_shot_metric(which: str):
    def compute(ctx: MetricContext) -> MetricValue:
        r = _zero_shot(ctx)
        per_class = r.precision if which == "precision" else r.recall
        macro = r.macro_precision if which == "precision" else r.macro_recall
        micro = r.micro_precision if which == "precision" else r.micro_recall
        extra = {
            "micro": micro,
            "per_class": {lab: (None if np.isnan(v) else float(v)) for lab, v in zip(r.labels, per_class, strict=True)},
            "labels": r.labels,
            "confusion_matrix": r.confusion.tolist(),
            "template": ctx.options["label_template"],
        }
        predicted = np.array([r.labels[i] for i in r.predicted], dtype=object)
        return MetricValue(macro, extra=extra, per_image={"predicted_label": predicted})

    return compute


def register() -> None:
    declare_options(*OPTIONS)
    def clip_req(o):
        return _embed(o["clip_model"])

    def head(o) -> tuple[str, ...]:
        name = AESTHETIC_HEADS.get((o["aesthetic_head"], o["aesthetic_model"]))
        return (name,) if name else ()

    clip = ("clip_model",)
    register_metric(MetricSpec(
        "clip_score", "CLIP score of each image against its prompt (convention: --clip-score-convention)",
        _clip_score, generated=clip_req, needs_prompts=True, min_images=1, group="text-image",
        options=(*clip, "clip_score_convention")))
    register_metric(MetricSpec(
        "clip_directional", "CLIP directional similarity of an edit (Gal et al. 2022)",
        _clip_directional, generated=clip_req, needs_prompts=True, min_images=1, group="editing",
        options=clip))
    register_metric(MetricSpec(
        "clip_image_similarity", "CLIP image-image cosine between source and edited image",
        _clip_image_similarity, generated=clip_req, needs_prompts=True, min_images=1, group="editing",
        options=clip))
    register_metric(MetricSpec(
        "aesthetic", "LAION aesthetic score (improved MLP on ViT-L/14 by default)",
        _aesthetic, generated=lambda o: _embed(o["aesthetic_model"]), min_images=1, group="text-image",
        options=("aesthetic_head", "aesthetic_model"), weights=head))
    register_metric(MetricSpec(
        "hps", "Human Preference Score v2 / v2.1 (100·cos on OpenCLIP ViT-H-14)",
        _hps, generated=lambda o: _embed(_hps_model(o)), needs_prompts=True, min_images=1, group="text-image",
        options=("hps_version",)))
    for which in ("precision", "recall"):
        register_metric(MetricSpec(
            f"object_{which}", f"zero-shot CLIP object {which} (macro; per class and confusion in extras)",
            _zero_shot_metric(which), generated=clip_req, needs_prompts=True, min_images=1, group="text-image",
            options=(*clip, "labels", "label_template")))
