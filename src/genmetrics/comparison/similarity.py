"""Paired image similarity (PSNR, SSIM, MS-SSIM, LPIPS) between two image sets matched by id.

Images are read with the core decoder (HxWx3 uint8) and scored by the scorers of
:mod:`genmetrics.comparison.pair_metrics` (built once per run). Two sets are matched by id
(relative path without extension); :func:`single_pair` pairs two image files whatever their
names. Summaries (:func:`summarize`) give the mean of the per-pair values, its sample std,
a percentile bootstrap CI of the mean and the worst pairs in the metric's bad direction
(lowest PSNR/SSIM, highest LPIPS). Identical pairs have PSNR ``inf``, so a mean PSNR is
``inf`` (no std, no CI) as soon as one pair is identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.comparison.pair_metrics import (
    PAIR_METRICS,
    PairOptions,
    PairScorer,
    build_scorers,
    parse_pair_metrics,
)
from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.sources.decode import decode_image
from genmetrics.sources.items import ImageItem
from genmetrics.stats import bootstrap_ci

__all__ = [
    "SIMILARITY_METRICS",
    "WORST_PAIRS",
    "PairSimilarity",
    "match_items",
    "pair_similarity",
    "parse_similarity",
    "summarize",
    "worst_pairs",
]

SIMILARITY_METRICS = PAIR_METRICS
WORST_PAIRS = 5
parse_similarity = parse_pair_metrics


@dataclass
class PairSimilarity:
    """Per-pair rows (``id``, ``a``, ``b`` and one column per metric), one-sided ids and the
    protocol of each metric (what made its values: options, weights)."""

    metrics: list[str]
    rows: list[dict[str, Any]]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)

    def values(self, metric: str, ids: Iterable[str] | None = None) -> np.ndarray:
        wanted = None if ids is None else set(ids)
        return np.array(
            [r[metric] for r in self.rows if wanted is None or r["id"] in wanted], dtype=np.float64
        )

    def higher_is_better(self, metric: str) -> bool:
        return PAIR_METRICS[metric].higher_is_better

    def summary(self, ids: Iterable[str] | None = None, seed: int = 0) -> dict[str, dict[str, Any]]:
        """``{metric: summarize(...) + worst pairs + the metric's short options}``."""
        wanted = None if ids is None else list(ids)
        out = {}
        for m in self.metrics:
            hib = self.higher_is_better(m)
            entry = summarize(self.values(m, wanted), seed=seed)
            entry["higher_is_better"] = hib
            entry["worst"] = worst_pairs(self, m, wanted)
            options = short_options(m, self.protocols.get(m))
            if options:
                entry["options"] = options
            out[m] = entry
        return out


def short_options(metric: str, protocol: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options that change a metric's values, recorded beside each value (LPIPS: net,
    version, resize; DreamSim: type); the full protocol (weights sha256…) is kept once per
    result."""
    keys = {"lpips": ("net", "version", "resize"), "dreamsim": ("type",)}.get(metric, ())
    return {k: protocol[k] for k in keys if protocol and k in protocol}


def summarize(
    values: Sequence[float] | np.ndarray, seed: int = 0, n_resamples: int = 2000
) -> dict[str, Any]:
    """``{"value": mean, "std": sample std (ddof=1), "ci95": [low, high], "n": n, "n_undefined"}``.

    ``ci95`` is the 95% percentile bootstrap CI of the mean (``seed``, ``n_resamples``);
    ``std`` and ``ci95`` are ``None`` for fewer than 2 values or any infinite one.
    Policy for undefined pairs: a NaN (MS-SSIM of strongly anti-correlated images, whose
    contrast-structure term is negative) stays in the per-pair rows, is left out of the mean,
    std and CI, and is counted in ``n_undefined``, with a warning. A mean involving ``inf``
    (identical images under PSNR) is ``inf``.
    """
    arr = np.asarray(values, dtype=np.float64)
    undefined = int(np.isnan(arr).sum())
    arr = arr[~np.isnan(arr)]
    out: dict[str, Any] = {"value": float("nan"), "std": None, "ci95": None, "n": int(arr.size)}
    if undefined:
        out["n_undefined"] = undefined
    if arr.size == 0:
        return out
    out["value"] = float(arr.mean())
    if arr.size > 1 and np.isfinite(arr).all():
        out["std"] = float(arr.std(ddof=1))
        low, high = bootstrap_ci(arr, np.mean, n_resamples=n_resamples, seed=seed)
        out["ci95"] = [low, high]
    return out


def worst_pairs(
    result: PairSimilarity, metric: str, ids: Iterable[str] | None = None, k: int = WORST_PAIRS
) -> list[dict[str, Any]]:
    """The ``k`` pairs furthest in the bad direction of ``metric`` (undefined pairs left out;
    ties by id), as ``{"id", "value"}``."""
    wanted = None if ids is None else set(ids)
    hib = result.higher_is_better(metric)
    scored = [
        (float(r[metric]), str(r["id"]))
        for r in result.rows
        if (wanted is None or r["id"] in wanted) and not np.isnan(float(r[metric]))
    ]
    scored.sort(key=lambda t: (t[0] if hib else -t[0], t[1]))
    return [{"id": i, "value": v} for v, i in scored[:k]]


def undefined_warnings(result: PairSimilarity) -> list[str]:
    """One line per metric with undefined pairs, naming the first of them."""
    out = []
    for metric in result.metrics:
        bad = [r for r in result.rows if isinstance(r[metric], float) and np.isnan(r[metric])]
        if bad:
            out.append(
                f"{metric} is undefined for {len(bad)} pair(s) (first: {bad[0]['a']} vs "
                f"{bad[0]['b']}: strongly anti-correlated images); they are left out of the "
                "mean and counted as n_undefined"
            )
    return out


def match_items(
    items_a: Sequence[ImageItem],
    items_b: Sequence[ImageItem],
    allow_missing: bool = False,
    names: tuple[str, str] = ("A", "B"),
) -> tuple[list[tuple[ImageItem, ImageItem]], list[str], list[str]]:
    """Pairs matched by id, and the ids found on one side only."""
    by_a = {i.id: i for i in items_a}
    by_b = {i.id: i for i in items_b}
    only_a = sorted(by_a.keys() - by_b.keys())
    only_b = sorted(by_b.keys() - by_a.keys())
    if (only_a or only_b) and not allow_missing:
        parts = []
        if only_a:
            parts.append(
                f"{len(only_a)} image(s) only in {names[0]} (first: {', '.join(only_a[:3])})"
            )
        if only_b:
            parts.append(
                f"{len(only_b)} image(s) only in {names[1]} (first: {', '.join(only_b[:3])})"
            )
        raise UserError(
            "; ".join(parts) + "; images are paired by relative path — add the missing ones or "
            "pass --allow-missing to leave them out and count them"
        )
    pairs = [(by_a[k], by_b[k]) for k in sorted(by_a.keys() & by_b.keys())]
    if not pairs:
        raise UserError(f"{names[0]} and {names[1]} have no image id in common; check the folders")
    return pairs, only_a, only_b


def single_pair(a: ImageItem, b: ImageItem) -> tuple[ImageItem, ImageItem]:
    """Two single images as a matched pair (both get ``a``'s id)."""
    return a, ImageItem(a.id, b.location, b.read)


def _decode(item: ImageItem) -> np.ndarray:
    try:
        return decode_image(item.read(), item.location)
    except ImageDecodeError as exc:
        raise UserError(f"{exc}; fix or remove the file") from None
    except OSError as exc:
        raise UserError(f"{item.location}: cannot read file ({exc})") from None


def score_pair(
    a: np.ndarray,
    b: np.ndarray,
    metrics: Sequence[str] | Mapping[str, PairScorer],
    where: tuple[str, str],
) -> dict[str, float]:
    """All ``metrics`` for one decoded pair; size mismatches and too-small images name both files."""
    if a.shape != b.shape:
        raise UserError(
            f"{where[0]} is {a.shape[1]}x{a.shape[0]} but {where[1]} is {b.shape[1]}x{b.shape[0]}; "
            "paired metrics need images of the same size (resize or crop one of them)"
        )
    scorers = metrics if isinstance(metrics, Mapping) else build_scorers(metrics)
    out: dict[str, float] = {}
    for name, scorer in scorers.items():
        try:
            out[name] = float(scorer(a, b))
        except UserError as exc:
            hint = "; leave ms_ssim out of --metrics/--similarity" if name == "ms_ssim" else ""
            raise UserError(f"{where[0]} vs {where[1]}: {exc}{hint}") from None
    return out


def pair_similarity(
    items_a: Sequence[ImageItem],
    items_b: Sequence[ImageItem],
    metrics: str | Iterable[str] = ("psnr", "ssim", "ms_ssim"),
    allow_missing: bool = False,
    names: tuple[str, str] = ("A", "B"),
    progress: Callable[[int], None] | None = None,
    *,
    scorers: Mapping[str, PairScorer] | None = None,
    options: PairOptions | None = None,
) -> PairSimilarity:
    """Score every matched pair of ``items_a`` / ``items_b`` (see module docstring).

    ``scorers`` (from :func:`build_scorers`) lets a caller build the networks once for many
    calls; otherwise they are built here from ``options``."""
    wanted = parse_similarity(metrics)
    pairs, only_a, only_b = match_items(items_a, items_b, allow_missing, names)
    if scorers is None:
        scorers = build_scorers(wanted, options)
    use = {m: scorers[m] for m in wanted}
    rows: list[dict[str, Any]] = []
    for item_a, item_b in pairs:
        values = score_pair(_decode(item_a), _decode(item_b), use, (item_a.location, item_b.location))
        rows.append({"id": item_a.id, "a": item_a.location, "b": item_b.location, **values})
        if progress is not None:
            progress(1)
    protocols = {m: use[m].protocol() for m in wanted}
    return PairSimilarity(wanted, rows, only_a, only_b, protocols)


def summaries_by_group(
    result: PairSimilarity, group_of: Mapping[str, str], groups: Sequence[str], seed: int = 0
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{group: {metric: summary}}`` with rows grouped by ``group_of[id]``."""
    members: dict[str, list[str]] = {g: [] for g in groups}
    for row in result.rows:
        g = group_of.get(row["id"])
        if g in members:
            members[g].append(row["id"])
    return {g: result.summary(ids, seed) for g, ids in members.items()}
