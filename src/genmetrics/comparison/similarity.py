"""Paired image similarity (PSNR, SSIM, MS-SSIM) between two image sets matched by id.

Images are read with the core decoder (HxWx3 uint8, ``data_range`` 255) and scored with
:mod:`genmetrics.metrics.functional.image_similarity`. Two sets are matched by id (relative
path without extension); :func:`single_pair` pairs two image files whatever their names.
Summaries average the per-pair values: identical pairs have PSNR ``inf``, so a mean PSNR is
``inf`` as soon as one pair is identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.metrics.functional.image_similarity import ms_ssim, psnr, ssim
from genmetrics.sources.decode import decode_image
from genmetrics.sources.items import ImageItem

__all__ = [
    "SIMILARITY_METRICS",
    "PairSimilarity",
    "match_items",
    "pair_similarity",
    "parse_similarity",
    "summarize",
]

SIMILARITY_METRICS: dict[str, Callable[..., Any]] = {"psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim}


def parse_similarity(names: str | Iterable[str]) -> list[str]:
    """``"psnr,ssim,ms-ssim"`` → ``["psnr", "ssim", "ms_ssim"]``; unknown names are an error."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out = [n.strip().lower().replace("-", "_") for n in items if n and n.strip()]
    unknown = [n for n in out if n not in SIMILARITY_METRICS]
    if unknown:
        raise UserError(
            f"unknown similarity metric '{unknown[0]}'; choose from {', '.join(SIMILARITY_METRICS)}"
        )
    if not out:
        raise UserError("no similarity metric given; pass e.g. psnr,ssim,ms_ssim")
    return list(dict.fromkeys(out))


@dataclass
class PairSimilarity:
    """Per-pair rows (``id``, ``a``, ``b`` and one column per metric) and one-sided ids."""

    metrics: list[str]
    rows: list[dict[str, Any]]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    def values(self, metric: str, ids: Iterable[str] | None = None) -> np.ndarray:
        wanted = None if ids is None else set(ids)
        return np.array(
            [r[metric] for r in self.rows if wanted is None or r["id"] in wanted], dtype=np.float64
        )

    def summary(self, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        return {m: summarize(self.values(m, ids)) for m in self.metrics}


def summarize(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``{"value": mean, "std": sample std (ddof=1, None for n < 2), "n": n, "n_undefined"}``.

    Policy for undefined pairs: a NaN (MS-SSIM of strongly anti-correlated images, whose
    contrast-structure term is negative) stays in the per-pair rows, is left out of the mean
    and std, and is counted in ``n_undefined``, with a warning. A mean involving ``inf``
    (identical images under PSNR) is ``inf`` and its std is ``None``.
    """
    arr = np.asarray(values, dtype=np.float64)
    undefined = int(np.isnan(arr).sum())
    arr = arr[~np.isnan(arr)]
    out: dict[str, Any] = {"value": float("nan"), "std": None, "n": int(arr.size)}
    if undefined:
        out["n_undefined"] = undefined
    if arr.size == 0:
        return out
    out["value"] = float(arr.mean())
    out["std"] = float(arr.std(ddof=1)) if arr.size > 1 and np.isfinite(arr).all() else None
    return out


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
    a: np.ndarray, b: np.ndarray, metrics: Sequence[str], where: tuple[str, str]
) -> dict[str, float]:
    """All ``metrics`` for one decoded pair; size mismatches and too-small images name both files."""
    if a.shape != b.shape:
        raise UserError(
            f"{where[0]} is {a.shape[1]}x{a.shape[0]} but {where[1]} is {b.shape[1]}x{b.shape[0]}; "
            "paired metrics need images of the same size (resize or crop one of them)"
        )
    out: dict[str, float] = {}
    for name in metrics:
        try:
            out[name] = float(SIMILARITY_METRICS[name](a, b, data_range=255.0))
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
) -> PairSimilarity:
    """Score every matched pair of ``items_a`` / ``items_b`` (see module docstring)."""
    wanted = parse_similarity(metrics)
    pairs, only_a, only_b = match_items(items_a, items_b, allow_missing, names)
    rows: list[dict[str, Any]] = []
    for item_a, item_b in pairs:
        values = score_pair(
            _decode(item_a), _decode(item_b), wanted, (item_a.location, item_b.location)
        )
        rows.append({"id": item_a.id, "a": item_a.location, "b": item_b.location, **values})
        if progress is not None:
            progress(1)
    return PairSimilarity(wanted, rows, only_a, only_b)


def summaries_by_group(
    result: PairSimilarity, group_of: Mapping[str, str], groups: Sequence[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{group: {metric: summary}}`` with rows grouped by ``group_of[id]``."""
    members: dict[str, list[str]] = {g: [] for g in groups}
    for row in result.rows:
        g = group_of.get(row["id"])
        if g in members:
            members[g].append(row["id"])
    return {g: result.summary(ids) for g, ids in members.items()}
