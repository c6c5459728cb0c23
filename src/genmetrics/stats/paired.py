"""Paired comparison of a variant against a baseline scored on the same items.

The unit of analysis is the per-item difference ``d_i = variant_i - baseline_i``. Its mean
gets a paired bootstrap CI (items resampled together, i.e. a bootstrap of ``d``), a paired
t-test p-value (``scipy.stats.ttest_rel``) and, for ``n >= 10`` with some non-zero
difference, a Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, zero differences
dropped). The verdict uses the CI and a declared equivalence margin, in the spirit of
TOST (Schuirmann 1987): see :func:`paired_difference`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from genmetrics.errors import UserError
from genmetrics.stats.bootstrap import bootstrap_ci

__all__ = ["VERDICTS", "PairedDifference", "paired_difference"]

VERDICTS = ("equivalent", "better", "worse", "inconclusive")
_MIN_WILCOXON = 10


@dataclass(frozen=True)
class PairedDifference:
    """Result of :func:`paired_difference`; differences are ``variant - baseline``."""

    n: int
    mean_baseline: float
    mean_variant: float
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value_ttest: float
    p_value_wilcoxon: float | None
    margin: float
    higher_is_better: bool
    verdict: str


def _verdict(ci_low: float, ci_high: float, margin: float, higher_is_better: bool) -> str:
    if -margin <= ci_low and ci_high <= margin:
        return "equivalent"
    if ci_low > 0.0:
        return "better" if higher_is_better else "worse"
    if ci_high < 0.0:
        return "worse" if higher_is_better else "better"
    return "inconclusive"


def paired_difference(
    baseline: object,
    variant: object,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    margin: float = 0.0,
    higher_is_better: bool = True,
) -> PairedDifference:
    """Compare matched per-item scores of ``variant`` and ``baseline``.

    ``[ci_low, ci_high]`` is the percentile bootstrap CI (``confidence``, ``n_resamples``,
    ``seed``) of the mean difference ``mean(variant - baseline)``. With margin ``delta >= 0``
    in score units the verdict is, checked in this order:

    1. ``"equivalent"`` if ``-delta <= ci_low`` and ``ci_high <= delta`` (the whole CI lies
       inside the margin; with a 95% CI this is TOST at the 2.5% level, a conservative
       choice);
    2. ``"better"`` if the CI lies entirely on the improving side of 0 (``ci_low > 0`` when
       ``higher_is_better``, ``ci_high < 0`` otherwise);
    3. ``"worse"`` if it lies entirely on the degrading side of 0;
    4. ``"inconclusive"`` otherwise (the CI straddles 0 and leaves the margin).

    So "better"/"worse" mean a difference the CI detects and cannot call negligible; it may
    still be smaller than ``delta``. With the default ``delta = 0`` nothing but an
    all-zero-difference sample is "equivalent".

    ``p_value_ttest`` is two-sided (when all differences are equal up to rounding the t
    statistic is undefined: 1.0 if they are all zero, else 0.0); ``p_value_wilcoxon`` is ``None`` when ``n < 10`` or all
    differences are zero.
    """
    from scipy import stats  # lazily: scipy.stats costs ~0.5 s of start-up to every command

    base = np.asarray(baseline, dtype=np.float64).reshape(-1)
    var = np.asarray(variant, dtype=np.float64).reshape(-1)
    if base.size != var.size:
        raise UserError(
            f"paired comparison needs the same items on both sides: baseline has {base.size} "
            f"scores, variant has {var.size}"
        )
    if base.size < 2:
        raise UserError(f"paired comparison needs at least 2 matched items, got {base.size}")
    if not (np.isfinite(base).all() and np.isfinite(var).all()):
        raise UserError("scores contain NaN or infinite values; drop those items on both sides")
    margin = float(margin)
    if not np.isfinite(margin) or margin < 0:
        raise UserError(f"equivalence margin must be a finite number >= 0, got {margin}")

    diff = var - base
    ci_low, ci_high = bootstrap_ci(
        diff, np.mean, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    scale = max(1.0, float(np.abs(diff).max()))
    if float(np.ptp(diff)) <= 1e-12 * scale:
        # constant differences: the t statistic is undefined; no difference at all is p = 1,
        # a constant non-zero shift is certain (p = 0)
        p_t = 1.0 if abs(float(diff.mean())) <= 1e-12 * scale else 0.0
    else:
        p_t = float(stats.ttest_rel(var, base).pvalue)
    p_w: float | None = None
    if diff.size >= _MIN_WILCOXON and np.any(diff != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scipy notes on ties / normal approx.
            p_w = float(stats.wilcoxon(diff).pvalue)
    return PairedDifference(
        n=int(diff.size),
        mean_baseline=float(base.mean()),
        mean_variant=float(var.mean()),
        mean_difference=float(diff.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=float(confidence),
        p_value_ttest=p_t,
        p_value_wilcoxon=p_w,
        margin=margin,
        higher_is_better=bool(higher_is_better),
        verdict=_verdict(ci_low, ci_high, margin, bool(higher_is_better)),
    )
