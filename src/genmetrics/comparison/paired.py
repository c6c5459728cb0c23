"""Variant vs baseline on the same prompts: paired differences per style and overall.

Rows of both sides are matched by ``(prompt id, sample)`` (see
:mod:`genmetrics.comparison.scores`), never by listing order. The unit of the test is the
prompt: for each prompt, its matched samples are averaged on each side and the difference
``d_p = variant_p - baseline_p`` is taken (with one sample per prompt this is the per-image
difference). :func:`genmetrics.stats.paired_difference` then gives the paired bootstrap CI of
``mean(d)``, the paired t-test and Wilcoxon p-values and the verdict under the margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.comparison.scores import Row, row_key, row_style
from genmetrics.comparison.tables import AVERAGE
from genmetrics.errors import UserError
from genmetrics.stats import PairedDifference, paired_difference

__all__ = ["PairedComparison", "match_rows", "paired_comparison"]


@dataclass(frozen=True)
class PairedComparison:
    """Per-style and overall (under ``AVERAGE``) paired results of one metric.

    A style with fewer than 2 matched prompts has ``None`` (no test possible).
    ``only_baseline`` / ``only_variant`` list the keys (``prompt_id#sample``) present on one
    side only (left out of the test).
    """

    metric: str
    by_style: dict[str, PairedDifference | None]
    n_pairs: int
    only_baseline: list[str] = field(default_factory=list)
    only_variant: list[str] = field(default_factory=list)

    @property
    def overall(self) -> PairedDifference | None:
        return self.by_style.get(AVERAGE)


def _fmt_key(key: tuple[str, int]) -> str:
    return key[0] if key[1] == 0 else f"{key[0]}_k{key[1]}"


def _index(rows: Sequence[Row], metric: str, side: str) -> dict[tuple[str, int], Row]:
    out: dict[tuple[str, int], Row] = {}
    for row in rows:
        if metric not in row:
            raise UserError(f"{side}: metric '{metric}' has no per-image score for '{row['id']}'")
        key = row_key(row)
        if key in out:
            raise UserError(
                f"{side}: '{out[key]['id']}' and '{row['id']}' are the same prompt and sample "
                f"({_fmt_key(key)}); keep one of them"
            )
        out[key] = row
    return out


def match_rows(
    baseline_rows: Sequence[Row],
    variant_rows: Sequence[Row],
    metric: str,
    allow_missing: bool = False,
    names: tuple[str, str] = ("baseline", "variant"),
) -> tuple[list[tuple[str, int]], dict, dict, list[str], list[str]]:
    """Keys present on both sides (sorted), both indexes, and the one-sided keys.

    One-sided keys raise :class:`UserError` naming the first ones unless ``allow_missing``.
    """
    base = _index(baseline_rows, metric, names[0])
    var = _index(variant_rows, metric, names[1])
    only_b = sorted(_fmt_key(k) for k in base.keys() - var.keys())
    only_v = sorted(_fmt_key(k) for k in var.keys() - base.keys())
    if (only_b or only_v) and not allow_missing:
        parts = []
        if only_b:
            parts.append(
                f"{len(only_b)} image(s) only in {names[0]} (first: {', '.join(only_b[:3])})"
            )
        if only_v:
            parts.append(
                f"{len(only_v)} image(s) only in {names[1]} (first: {', '.join(only_v[:3])})"
            )
        raise UserError(
            "; ".join(parts) + "; images are matched by prompt id and sample — add the missing "
            "images or pass --allow-missing to leave them out and count them"
        )
    keys = sorted(base.keys() & var.keys())
    return keys, base, var, only_b, only_v


def paired_comparison(
    baseline_rows: Sequence[Row],
    variant_rows: Sequence[Row],
    metric: str,
    margin: float = 0.0,
    higher_is_better: bool = True,
    styles: Sequence[str] | None = None,
    allow_missing: bool = False,
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    names: tuple[str, str] = ("baseline", "variant"),
) -> PairedComparison:
    """Paired per-prompt differences of ``metric`` (variant − baseline), per style and overall.

    The style of a pair is the baseline row's style. ``styles`` fixes the order (default:
    first appearance); the overall result is stored under ``"Average"``.
    """
    keys, base, var, only_b, only_v = match_rows(
        baseline_rows, variant_rows, metric, allow_missing, names
    )
    if not keys:
        raise UserError(f"{names[0]} and {names[1]} have no image in common; check the folders")
    # prompt -> (style, baseline samples, variant samples), in key order
    prompts: dict[str, tuple[str, list[float], list[float]]] = {}
    for key in keys:
        b_row = base[key]
        entry = prompts.setdefault(key[0], (row_style(b_row), [], []))
        entry[1].append(float(b_row[metric]))
        entry[2].append(float(var[key][metric]))
    order = (
        list(styles) if styles is not None else list(dict.fromkeys(e[0] for e in prompts.values()))
    )
    grouped: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in order}
    for style, b_vals, v_vals in prompts.values():
        if style in grouped:
            grouped[style][0].append(float(np.mean(b_vals)))
            grouped[style][1].append(float(np.mean(v_vals)))
    grouped[AVERAGE] = (
        [v for s in order for v in grouped[s][0]],
        [v for s in order for v in grouped[s][1]],
    )
    by_style: dict[str, PairedDifference | None] = {}
    for style, (b_vals, v_vals) in grouped.items():
        if len(b_vals) < 2:
            if style == AVERAGE:
                raise UserError(f"paired comparison of {metric} needs at least 2 matched prompts")
            by_style[style] = None
            continue
        by_style[style] = paired_difference(
            b_vals,
            v_vals,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            margin=margin,
            higher_is_better=higher_is_better,
        )
    return PairedComparison(metric, by_style, len(keys), only_b, only_v)


def paired_to_dict(result: PairedDifference | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "n": result.n,
        "mean_baseline": result.mean_baseline,
        "mean_variant": result.mean_variant,
        "diff": result.mean_difference,
        "ci95": [result.ci_low, result.ci_high],
        "p_value_ttest": result.p_value_ttest,
        "p_value_wilcoxon": result.p_value_wilcoxon,
        "margin": result.margin,
        "higher_is_better": result.higher_is_better,
        "verdict": result.verdict,
    }
