"""Distribution metrics on any feature space: FD (FID), KD (KID), IS, precision/recall,
density/coverage, sFID, FD∞, sliced Wasserstein and CMMD.

The math lives in :mod:`genmetrics.metrics.functional`; this module only declares which
features each metric needs and wires them in. A feature space is a (backbone, output) pair
named by the ``features`` option (``--features``): ``inception`` (pool3, the default),
``inception-64``/``-192``/``-768`` (the intermediate taps torchmetrics offers),
``dinov2-vit-{s,b,l,g}14`` (CLS after the final norm) or ``clip-vit-*`` (image embeddings).
``fd``, ``kd``, ``precision``, ``recall``, ``density``, ``coverage``, ``fd_infinity`` and
``swd`` follow it; the presets are fixed: ``fid``/``kid`` (Inception pool3), ``sfid``
(Inception mixed_6/conv spatial), ``fd_dinov2``/``kd_dinov2`` (DINOv2 ViT-L/14), ``fd_clip``
(CLIP ViT-L/14) and ``cmmd`` (CLIP ViT-L/14@336, CMMD preprocessing). Every value names its
feature space (backbone, output, preprocessing, weights sha256) in its extras.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.cmmd import CMMD_SCALE, CMMD_SIGMA, cmmd
from genmetrics.metrics.functional.fd_infinity import fd_infinity
from genmetrics.metrics.functional.frechet import frechet_distance_from_stats, rank_warnings
from genmetrics.metrics.functional.inception_score import inception_score
from genmetrics.metrics.functional.kid import kernel_inception_distance
from genmetrics.metrics.functional.prdc import prdc
from genmetrics.metrics.functional.sliced_wasserstein import sliced_wasserstein
from genmetrics.metrics.options import MetricOption, declare_options
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue, register_metric

INCEPTION = "inception"
POOL3 = "pool3"
SPATIAL = "spatial"
LOGITS = "logits_unbiased"
CMMD_BACKBONE = "clip-vit-l-14-336-cmmd"

Space = tuple[str, str]

INCEPTION_TAPS = ("64", "192", "768")
"""Inception's intermediate taps that torchmetrics' ``FrechetInceptionDistance(feature=…)``
offers, each its own backbone ``inception-<tap>`` (own cache rows; pool3's are untouched)."""

FEATURE_SPACES: dict[str, Space] = {
    "inception": (INCEPTION, POOL3),
    **{f"inception-{tap}": (f"inception-{tap}", tap) for tap in INCEPTION_TAPS},
    **{f"dinov2-vit-{s}14": (f"dinov2-vit-{s}14", "cls") for s in "sblg"},
    **{n: (n, "embed") for n in ("clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14",
                                 "clip-vit-l-14-336")},
}
"""``--features`` value → (backbone, output)."""

DINOV2_L: Space = FEATURE_SPACES["dinov2-vit-l14"]
CLIP_L: Space = FEATURE_SPACES["clip-vit-l-14"]

OPTIONS = (
    MetricOption("features", "inception", "Feature space of fd/kd/precision/recall/density/coverage: " + ", ".join(FEATURE_SPACES) + ".", str, choices=tuple(FEATURE_SPACES)),
    MetricOption("kid_subsets", 100, "KID: number of random subsets.", int, minimum=1),
    MetricOption("kid_subset_size", 1000, "KID: images per subset (capped at the set sizes).", int, minimum=2),
    MetricOption("is_splits", 10, "Inception Score: number of splits.", int, minimum=1),
    MetricOption("pr_k", 3, "Precision/recall: k of the k-NN radii.", int, minimum=1),
    MetricOption("dc_k", 5, "Density/coverage: k of the k-NN radii.", int, minimum=1),
    MetricOption("prdc_chunk_size", 1024, "Rows per distance block of the k-NN searches (memory).", int, minimum=1),
    MetricOption("fd_infinity_points", 15, "FD∞: number of sample sizes of the 1/N fit.", int, minimum=2),
    MetricOption("fd_infinity_min", 0, "FD∞: smallest sample size (0: the method's default).", int, minimum=0),
    MetricOption("swd_projections", 1000, "Sliced Wasserstein: number of random projections.", int, minimum=1),
)
"""The options of the distribution metrics (declared once; the CLI flags come from here).
``seed`` is a run setting, passed to every metric."""


def feature_space(options: dict[str, Any]) -> Space:
    """The (backbone, output) that ``options["features"]`` names; UserError otherwise."""
    name = options.get("features", "inception")
    if name not in FEATURE_SPACES:
        raise UserError(
            f"--features must be one of {', '.join(FEATURE_SPACES)}, got {name!r}"
        )
    return FEATURE_SPACES[name]


SpaceFn = Callable[[dict[str, Any]], Space]


def _fixed(space: Space) -> SpaceFn:
    return lambda options: space


def _requests(space: SpaceFn, form: str = "array"):
    return lambda options: (FeatureRequest(*space(options), form),)  # type: ignore[arg-type]


def _space_extra(ctx: MetricContext, space: Space) -> dict[str, Any]:
    """What names the feature space of a number: backbone, output and, when the run offers
    its backbones, their preprocessing/protocol and weights sha256."""
    info: dict[str, Any] = {"backbone": space[0], "output": space[1]}
    backbones = getattr(ctx.services, "backbones", None) or {}
    bb = backbones.get(space[0]) if isinstance(backbones, dict) else None
    if bb is not None:
        m = bb.manifest()
        for key in ("preprocess", "protocol", "weights_sha256", "dtype"):
            if m.get(key) is not None:
                info[key] = m[key]
    return {"features": info}


def _stats_digest(*stats: GaussianStats) -> str:
    """Names the pair of statistics: by the rows they were folded from when the feature pass
    named them (``content_key``: no D x D matrix is formed or hashed), else by mu and sigma."""
    h = hashlib.sha256()
    if all(s.content_key for s in stats):
        h.update(b"rows:" + "|".join(s.content_key or "" for s in stats).encode())
        return h.hexdigest()
    for s in stats:
        arrays = s.to_arrays()
        h.update(np.ascontiguousarray(arrays["mu"], dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(arrays["sigma"], dtype=np.float64).tobytes())
    return h.hexdigest()


def _rows(feats: Any, space: Space, stats: GaussianStats) -> np.ndarray | None:
    """The per-image rows of ``space`` when the run kept them (grouped runs, or another metric
    asked for them) and they are the rows ``stats`` were made from, for the exact n x n
    Fréchet route; ``None`` otherwise (e.g. an ADM batch: its images serve KID while its
    stored statistics, not our features of its images, serve FID)."""
    arrays = getattr(feats, "arrays", None) or {}
    rows = arrays.get(space)
    if rows is None or rows.ndim != 2 or len(rows) < 2 or len(rows) != stats.n:
        return None
    gap = float(np.abs(rows.mean(axis=0, dtype=np.float64) - stats.mean).max())
    return rows if gap <= 1e-9 * float(np.abs(rows).max()) else None


SFID_PROTOCOL = "tf1"
"""The resize of the ADM evaluator's sFID (its TF graph resizes with TF1 bilinear)."""


def _protocol_warnings(name: str, extra: dict[str, Any]) -> list[str]:
    """sFID under another protocol than the ADM evaluator's is another number (1.1 % apart on
    real images): said in the value's warnings."""
    protocol = extra.get("features", {}).get("protocol")
    if name != "sfid" or protocol in (None, SFID_PROTOCOL):
        return []
    return [f"sFID under protocol '{protocol}' is not comparable with the ADM evaluator's sFID "
            f"(published sFIDs are '{SFID_PROTOCOL}' numbers; 1.1 % apart on real images): pass "
            f"--protocol {SFID_PROTOCOL} to compare with them"]


def _frechet(name: str, space: SpaceFn) -> Callable[[MetricContext], MetricValue]:
    def compute(ctx: MetricContext) -> MetricValue:
        sp = space(ctx.options)
        ref = ctx.require_reference(name)
        a, b = ctx.generated.gaussian(*sp), ref.gaussian(*sp)
        dim = a.dim or 0
        rows_a, rows_b = _rows(ctx.generated, sp, a), _rows(ref, sp, b)
        few = [r for r, s in ((rows_a, a), (rows_b, b)) if r is not None and (s.n or 0) <= dim]
        memo = getattr(ctx.services, "derived", None)  # a pure function of the statistics
        value = None
        if few:  # a side with no more rows than dims enters through its rows: exact, cheap
            value = frechet_distance_from_stats(a, b, rows_a=rows_a, rows_b=rows_b, warn=False)
        else:
            prefix = "fid/v2/" if sp == (INCEPTION, POOL3) else f"fd/v2/{sp[0]}/{sp[1]}/"
            key = prefix + _stats_digest(a, b) if memo is not None else None
            value = memo.get_value(key) if memo is not None else None
            if value is None:
                value = frechet_distance_from_stats(a, b, warn=False)
                if memo is not None:
                    memo.put_value(key, value)
        extra = _space_extra(ctx, sp)
        return MetricValue(float(value), extra=extra,
                           warnings=rank_warnings(a.n, b.n, dim) + _protocol_warnings(name, extra))

    return compute


def _kd(name: str, space: SpaceFn) -> Callable[[MetricContext], MetricValue]:
    def compute(ctx: MetricContext) -> MetricValue:
        sp = space(ctx.options)
        ref = ctx.require_reference(name)
        x, y = ctx.generated.array(*sp), ref.array(*sp)
        size = min(int(ctx.options["kid_subset_size"]), len(x), len(y))
        mean, std = kernel_inception_distance(
            x, y, num_subsets=int(ctx.options["kid_subsets"]), subset_size=size,
            seed=int(ctx.options["seed"]),
        )
        extra = {"subsets": int(ctx.options["kid_subsets"]), "subset_size": size,
                 **_space_extra(ctx, sp)}
        return MetricValue(float(mean), std=float(std), extra=extra)

    return compute


def _is(ctx: MetricContext) -> MetricValue:
    logits = ctx.generated.array(INCEPTION, LOGITS)
    mean, std = inception_score(logits, splits=int(ctx.options["is_splits"]), seed=int(ctx.options["seed"]))
    return MetricValue(float(mean), std=float(std), extra={"splits": int(ctx.options["is_splits"])})


def _prdc_result(ctx: MetricContext):
    """Compute the four k-NN metrics once per run (they share the distance work)."""
    sp = feature_space(ctx.options)
    key = ("prdc", *sp)
    if key not in ctx.memo:
        ref = ctx.require_reference("precision/recall/density/coverage")
        wanted = set(ctx.requested) or {"precision", "recall", "density", "coverage"}
        ctx.memo[key] = prdc(
            ref.array(*sp),
            ctx.generated.array(*sp),
            k_pr=int(ctx.options["pr_k"]) if wanted & {"precision", "recall"} else None,
            k_dc=int(ctx.options["dc_k"]) if wanted & {"density", "coverage"} else None,
            chunk_size=int(ctx.options["prdc_chunk_size"]),
        )
    return ctx.memo[key]


_PRDC_COLUMNS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "precision": ({"in_real_manifold": "fake_in_real_manifold",
                   "manifold_ratio": "fake_manifold_ratio"}, {}),
    "density": ({"real_balls_containing": "fake_real_ball_count"}, {}),
    "coverage": ({}, {"covered": "real_covered", "nearest_ratio": "real_nearest_ratio"}),
}
"""Per-image columns of each k-NN metric -> their :class:`PRDCResult` arrays: the generated
side, then the reference side."""


def _prdc_metric(name: str, k_option: str):
    def compute(ctx: MetricContext) -> MetricValue:
        res = _prdc_result(ctx)
        value = res[name] if isinstance(res, dict) else getattr(res, name)
        per_image, per_reference = (
            {column: np.asarray(arr) for column, attr in side.items()
             if (arr := _get(res, attr)) is not None and len(arr)}
            for side in _PRDC_COLUMNS.get(name, ({}, {}))
        )
        extra = {"k": int(ctx.options[k_option]), **_space_extra(ctx, feature_space(ctx.options))}
        return MetricValue(float(value), extra=extra, per_image=per_image,
                           per_reference_image=per_reference)

    return compute


def _get(res: Any, name: str):
    if isinstance(res, dict):
        return res.get(name)
    return getattr(res, name, None)


def _fd_infinity(ctx: MetricContext) -> MetricValue:
    sp = feature_space(ctx.options)
    ref = ctx.require_reference("fd_infinity").gaussian(*sp)
    low = int(ctx.options["fd_infinity_min"]) or None
    res = fd_infinity(ctx.generated.array(*sp), ref.mean, ref.cov,
                      points=int(ctx.options["fd_infinity_points"]), n_min=low,
                      seed=int(ctx.options["seed"]), ref_n=ref.n)
    extra = {"slope": res.slope, "sizes": [int(s) for s in res.sizes],
             "fds": [float(v) for v in res.fds], **_space_extra(ctx, sp)}
    return MetricValue(res.value, extra=extra)


def _swd(ctx: MetricContext) -> MetricValue:
    sp = feature_space(ctx.options)
    ref = ctx.require_reference("swd")
    n = int(ctx.options["swd_projections"])
    value = sliced_wasserstein(ctx.generated.array(*sp), ref.array(*sp), projections=n,
                               seed=int(ctx.options["seed"]))
    return MetricValue(value, extra={"projections": n, "p": 2, **_space_extra(ctx, sp)})


def _cmmd(ctx: MetricContext) -> MetricValue:
    sp = (CMMD_BACKBONE, "embed")
    ref = ctx.require_reference("cmmd")
    value = cmmd(ref.array(*sp), ctx.generated.array(*sp))
    extra = {"sigma": CMMD_SIGMA, "scale": CMMD_SCALE, "estimator": "biased (V-statistic)",
             **_space_extra(ctx, sp)}
    return MetricValue(value, extra=extra)


def register() -> None:
    declare_options(*OPTIONS)
    opt = feature_space

    def dist(name, description, compute, gen, ref, **kw) -> None:
        register_metric(MetricSpec(
            name, description, compute, generated=gen, reference=ref, needs_reference=True,
            group="distribution", **kw,
        ))

    def on(space) -> tuple[str, ...]:  # the options a feature space reads
        return ("features",) if space is opt else ()

    opt_gen, opt_gauss = _requests(opt), _requests(opt, "gaussian")

    for name, desc, space in (
        ("fid", "Fréchet Inception Distance (Heusel et al. 2017), pool3, float64 eigen-sqrt",
         _fixed((INCEPTION, POOL3))),
        ("fd", "Fréchet distance on --features (default Inception pool3)", opt),
        ("sfid", "sFID (Nash et al. 2021): FD on Inception mixed_6/conv, first 7 channels "
         "(2023-d, as the ADM evaluator)", _fixed((INCEPTION, SPATIAL))),
        ("fd_dinov2", "FD on DINOv2 ViT-L/14 CLS features (Stein et al. 2023)",
         _fixed(DINOV2_L)),
        ("fd_clip", "FD on CLIP ViT-L/14 image embeddings", _fixed(CLIP_L)),
    ):
        gauss = opt_gauss if space is opt else _requests(space, "gaussian")
        dist(name, desc, _frechet(name, space), gauss, gauss, higher_is_better=False,
             options=on(space))
    for name, desc, space in (
        ("kid", "Kernel Inception Distance (Bińkowski et al. 2018), cubic kernel, unbiased MMD²",
         _fixed((INCEPTION, POOL3))),
        ("kd", "Kernel distance on --features, cubic kernel, unbiased MMD²", opt),
        ("kd_dinov2", "Kernel distance on DINOv2 ViT-L/14 CLS features", _fixed(DINOV2_L)),
    ):
        req = opt_gen if space is opt else _requests(space)
        dist(name, desc, _kd(name, space), req, req, higher_is_better=False,
             options=(*on(space), "kid_subsets", "kid_subset_size"))
    register_metric(MetricSpec(
        "is", "Inception Score (Salimans et al. 2016) on the 1008 logits: mean ± std over "
        "--is-splits splits", _is, generated=lambda o: (FeatureRequest(INCEPTION, LOGITS),),
        group="distribution", options=("is_splits",),
    ))
    for name, k in (("precision", "pr_k"), ("recall", "pr_k"), ("density", "dc_k"), ("coverage", "dc_k")):
        dist(name, f"{name} on k-NN manifolds of --features (Kynkäänniemi 2019 / Naeem 2020)",
             _prdc_metric(name, k), opt_gen, opt_gen, options=("features", k, "prdc_chunk_size"))
    dist("fd_infinity", "FD∞ (Chong & Forsyth 2020): FD at --fd-infinity-points sample sizes, "
         "linear fit in 1/N, on --features", _fd_infinity, opt_gen, opt_gauss, higher_is_better=False, min_images=10,
         options=("features", "fd_infinity_points", "fd_infinity_min"))
    dist("swd", "sliced Wasserstein-2 distance (SW2) of --features: root mean square of the "
         "1-D Wasserstein-2 distances along --swd-projections seeded unit directions", _swd, opt_gen, opt_gen, higher_is_better=False, min_images=1,
         options=("features", "swd_projections"))
    cmmd_space = _fixed((CMMD_BACKBONE, "embed"))
    dist("cmmd", "CMMD (Jayasumana et al. 2024): RBF MMD (sigma 10, x1000) of CLIP ViT-L/14@336 "
         "embeddings", _cmmd, _requests(cmmd_space), _requests(cmmd_space),
         higher_is_better=False, min_images=1)
