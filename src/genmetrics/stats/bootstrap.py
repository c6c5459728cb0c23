"""Non-parametric bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13).

Resampling is vectorised: index matrices of shape ``(block, n)`` are drawn from
``numpy.random.default_rng(seed)`` in blocks that bound memory, so a given ``seed`` and input
always give the same interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genmetrics.errors import UserError

__all__ = ["MeanStdCI", "bootstrap_ci", "bootstrap_distribution", "mean_std_ci"]

_METHODS = ("percentile", "basic")
_MAX_BLOCK_ELEMENTS = 4_000_000  # indices drawn at once (32 MB of int64)

Statistic = Callable[..., np.ndarray]


def _as_values(values: object, name: str = "values") -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise UserError(f"{name} is empty; a bootstrap needs at least one value")
    if not np.isfinite(arr).all():
        raise UserError(f"{name} contains NaN or infinite values; drop or fix them first")
    return arr


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise UserError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return confidence


def bootstrap_distribution(
    values: object, statistic: Statistic = np.mean, n_resamples: int = 2000, seed: int = 0
) -> np.ndarray:
    """The statistic on ``n_resamples`` resamples (with replacement) of ``values`` -> (n_resamples,).

    ``statistic`` must accept an ``axis`` keyword (``np.mean``, ``np.median``, ...); it is
    called on ``(block, n)`` arrays with ``axis=-1``.
    """
    arr = _as_values(values)
    if int(n_resamples) < 1:
        raise UserError(f"n_resamples must be >= 1, got {n_resamples}")
    n_resamples = int(n_resamples)
    rng = np.random.default_rng(seed)
    n = arr.size
    block = max(1, min(n_resamples, _MAX_BLOCK_ELEMENTS // n))
    out = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = np.asarray(statistic(arr[idx], axis=-1), dtype=np.float64)
    return out


def bootstrap_ci(
    values: object,
    statistic: Statistic = np.mean,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float]:
    """Two-sided bootstrap confidence interval ``(low, high)`` of ``statistic(values)``.

    With ``alpha = 1 - confidence`` and ``q`` the quantiles (linear interpolation) of the
    bootstrap distribution ``t*``:

    * ``"percentile"``: ``(q(alpha/2), q(1 - alpha/2))``;
    * ``"basic"`` (reverse percentile): ``(2 t - q(1 - alpha/2), 2 t - q(alpha/2))`` with
      ``t = statistic(values)``.

    A single value gives a zero-width interval.
    """
    if method not in _METHODS:
        raise UserError(f"unknown bootstrap method {method!r}; choose one of {', '.join(_METHODS)}")
    confidence = _check_confidence(confidence)
    arr = _as_values(values)
    dist = bootstrap_distribution(arr, statistic, n_resamples=n_resamples, seed=seed)
    alpha = 1.0 - confidence
    q_low, q_high = np.quantile(dist, [alpha / 2.0, 1.0 - alpha / 2.0])
    if method == "percentile":
        return float(q_low), float(q_high)
    point = float(statistic(arr))
    return 2.0 * point - float(q_high), 2.0 * point - float(q_low)


@dataclass(frozen=True)
class MeanStdCI:
    """Mean, sample std (ddof=1; ``nan`` for one value), bootstrap CI of the mean, count."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int


def mean_std_ci(
    values: object, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> MeanStdCI:
    """Summary of per-item scores: mean, std (ddof=1) and percentile bootstrap CI of the mean."""
    arr = _as_values(values)
    low, high = bootstrap_ci(
        arr, np.mean, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else float("nan")
    return MeanStdCI(mean=float(arr.mean()), std=std, ci_low=low, ci_high=high, n=int(arr.size))
