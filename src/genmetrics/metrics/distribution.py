"""Distribution metrics on Inception features: FID, KID, IS, precision/recall, density/coverage.

The math lives in :mod:`genmetrics.metrics.functional`; this module only declares which
features each metric needs and wires them in.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.functional.frechet import frechet_distance, rank_warnings
from genmetrics.metrics.functional.gaussian import GaussianStats
from genmetrics.metrics.functional.inception_score import inception_score
from genmetrics.metrics.functional.kid import kernel_inception_distance
from genmetrics.metrics.functional.prdc import prdc
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue, register_metric

INCEPTION = "inception"
POOL3 = "pool3"
LOGITS = "logits_unbiased"

DEFAULT_OPTIONS: dict[str, Any] = {
    "seed": 0,
    "kid_subsets": 100,
    "kid_subset_size": 1000,
    "is_splits": 10,
    "pr_k": 3,
    "dc_k": 5,
    "prdc_chunk_size": 1024,
}

OPTION_MINIMUMS: dict[str, int] = {
    "kid_subsets": 1,
    "kid_subset_size": 2,
    "is_splits": 1,
    "pr_k": 1,
    "dc_k": 1,
    "prdc_chunk_size": 1,
}
"""Smallest meaningful value of each integer option (checked before any work)."""


def _pool3(form: str = "array"):
    return lambda options: (FeatureRequest(INCEPTION, POOL3, form),)  # type: ignore[arg-type]


def _fid(ctx: MetricContext) -> MetricValue:
    ref = ctx.require_reference("fid")
    a, b = ctx.generated.gaussian(INCEPTION, POOL3), ref.gaussian(INCEPTION, POOL3)
    memo = ctx.services.get("derived")  # a pure function of the statistics: reuse it by content
    key = "fid/v1/" + _stats_digest(a, b) if memo is not None else None
    value = memo.get_value(key) if memo is not None else None
    if value is None:
        value = frechet_distance(a.mean, a.cov, b.mean, b.cov)
        if memo is not None:
            memo.put_value(key, value)
    # part of the result, so a re-run that reuses the cached value reports them too
    return MetricValue(float(value), warnings=rank_warnings(a.n, b.n, a.dim or 0))


def _stats_digest(*stats: GaussianStats) -> str:
    h = hashlib.sha256()
    for s in stats:
        arrays = s.to_arrays()
        h.update(np.ascontiguousarray(arrays["mu"], dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(arrays["sigma"], dtype=np.float64).tobytes())
    return h.hexdigest()


def _kid(ctx: MetricContext) -> MetricValue:
    ref = ctx.require_reference("kid")
    x = ctx.generated.array(INCEPTION, POOL3)
    y = ref.array(INCEPTION, POOL3)
    size = min(int(ctx.options["kid_subset_size"]), len(x), len(y))
    mean, std = kernel_inception_distance(
        x, y, num_subsets=int(ctx.options["kid_subsets"]), subset_size=size,
        seed=int(ctx.options["seed"]),
    )
    return MetricValue(float(mean), std=float(std), extra={"subsets": int(ctx.options["kid_subsets"]), "subset_size": size})


def _is(ctx: MetricContext) -> MetricValue:
    logits = ctx.generated.array(INCEPTION, LOGITS)
    mean, std = inception_score(logits, splits=int(ctx.options["is_splits"]), seed=int(ctx.options["seed"]))
    return MetricValue(float(mean), std=float(std), extra={"splits": int(ctx.options["is_splits"])})


def _prdc_result(ctx: MetricContext):
    """Compute the four k-NN metrics once per run (they share the distance work)."""
    if "prdc" not in ctx.memo:
        ref = ctx.require_reference("precision/recall/density/coverage")
        wanted = set(ctx.requested) or {"precision", "recall", "density", "coverage"}
        ctx.memo["prdc"] = prdc(
            ref.array(INCEPTION, POOL3),
            ctx.generated.array(INCEPTION, POOL3),
            k_pr=int(ctx.options["pr_k"]) if wanted & {"precision", "recall"} else None,
            k_dc=int(ctx.options["dc_k"]) if wanted & {"density", "coverage"} else None,
            chunk_size=int(ctx.options["prdc_chunk_size"]),
        )
    return ctx.memo["prdc"]


def _prdc_metric(name: str, k_option: str):
    def compute(ctx: MetricContext) -> MetricValue:
        res = _prdc_result(ctx)
        value = res[name] if isinstance(res, dict) else getattr(res, name)
        per_image: dict[str, np.ndarray] = {}
        if name == "precision":
            inside = _get(res, "fake_in_real_manifold")
            if inside is not None:
                per_image["in_real_manifold"] = np.asarray(inside)
        if name == "density":
            count = _get(res, "fake_real_ball_count")
            if count is not None:
                per_image["real_balls_containing"] = np.asarray(count)
        return MetricValue(float(value), extra={"k": int(ctx.options[k_option])}, per_image=per_image)

    return compute


def _get(res: Any, name: str):
    if isinstance(res, dict):
        return res.get(name)
    return getattr(res, name, None)


def register() -> None:
    register_metric(MetricSpec(
        "fid", "Fréchet Inception Distance (Heusel et al. 2017), pool3, float64 eigen-sqrt",
        _fid, generated=_pool3("gaussian"), reference=_pool3("gaussian"),
        needs_reference=True, higher_is_better=False, group="distribution",
    ))
    register_metric(MetricSpec(
        "kid", "Kernel Inception Distance (Bińkowski et al. 2018), cubic kernel, unbiased MMD²",
        _kid, generated=_pool3(), reference=_pool3(), needs_reference=True,
        higher_is_better=False, group="distribution",
    ))
    register_metric(MetricSpec(
        "is", "Inception Score (Salimans et al. 2016), 1008 logits, 10 splits",
        _is, generated=lambda o: (FeatureRequest(INCEPTION, LOGITS),), group="distribution",
    ))
    for name, k in (("precision", "pr_k"), ("recall", "pr_k"), ("density", "dc_k"), ("coverage", "dc_k")):
        register_metric(MetricSpec(
            name, f"{name} on Inception pool3 k-NN manifolds (Kynkäänniemi 2019 / Naeem 2020)",
            _prdc_metric(name, k), generated=_pool3(), reference=_pool3(),
            needs_reference=True, group="distribution",
        ))
