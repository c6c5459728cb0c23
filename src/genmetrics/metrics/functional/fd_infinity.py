"""FD∞: the effectively unbiased Fréchet distance of Chong & Forsyth 2020 ("Effectively
Unbiased FID and Inception Score and where to find them", CVPR 2020).

FD computed from N samples is biased upwards by a term that is, to first order, linear in
``1/N``. FD∞ evaluates ``FD_N`` of the generated set against the fixed reference statistics at
``points`` sample sizes ``N`` evenly spaced from ``n_min`` to all generated rows (as the
authors' ``np.linspace(5000, num_im, 15)``), each on the first ``N`` rows of a fresh seeded
permutation of the generated features (the authors shuffle before every size), fits the least
squares line ``FD_N = FD∞ + slope / N`` and returns its intercept (the extrapolation to
``N -> ∞``). Every ``FD_N`` is the float64 :func:`frechet_distance_from_stats`; the reference
covariance is factored once for all sizes, and a size of no more rows than dims enters through
its rows (the exact n x n route).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.frechet import frechet_distance_from_stats

__all__ = ["FDInfinityResult", "fd_infinity", "fd_infinity_sizes"]

DEFAULT_POINTS = 15
DEFAULT_MIN_SIZE = 5000


@dataclass(frozen=True)
class FDInfinityResult:
    """The intercept ``value`` (FD∞), the ``slope`` of FD against 1/N, and the fitted points."""

    value: float
    slope: float
    sizes: np.ndarray
    fds: np.ndarray


def fd_infinity_sizes(n: int, points: int = DEFAULT_POINTS, n_min: int | None = None) -> np.ndarray:
    """The sample sizes: ``linspace(n_min, n, points)`` truncated to integers (as the authors'
    ``astype('int32')``). ``n_min`` defaults to 5000, or ``n // 5`` (at least 2) when the set
    has no more than 5000 rows."""
    if points < 2:
        raise UserError(f"FD-infinity needs at least 2 sample sizes, got {points}")
    if n_min is None:
        n_min = DEFAULT_MIN_SIZE if n > DEFAULT_MIN_SIZE else max(2, n // 5)
    if not 2 <= n_min < n:
        raise UserError(
            f"FD-infinity needs 2 <= smallest size < number of generated rows; got {n_min} and "
            f"{n} rows: use more generated images"
        )
    return np.linspace(n_min, n, points).astype(np.int64)


def fd_infinity(
    gen_features: Any,
    ref_mu: Any,
    ref_sigma: Any,
    *,
    points: int = DEFAULT_POINTS,
    n_min: int | None = None,
    seed: int = 0,
    ref_n: int | None = None,
) -> FDInfinityResult:
    """FD∞ of ``gen_features`` (N, D) against reference statistics of ``ref_n`` samples (when
    known; see module docstring)."""
    x = np.asarray(gen_features, dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"features must be a 2-D array (rows x dims), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise UserError("features contain NaN or infinite values")
    sizes = fd_infinity_sizes(x.shape[0], points, n_min)
    ref = GaussianStats.from_mu_sigma(ref_mu, ref_sigma, ref_n)
    rng = np.random.default_rng(seed)
    fds = np.empty(len(sizes), dtype=np.float64)
    for i, size in enumerate(sizes):
        rows = x[rng.permutation(x.shape[0])[:size]]
        fds[i] = frechet_distance_from_stats(GaussianStats().update(rows), ref, rows_a=rows,
                                             warn=False)
    design = np.stack([np.ones(len(sizes)), 1.0 / sizes.astype(np.float64)], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, fds, rcond=None)
    return FDInfinityResult(float(intercept), float(slope), sizes, fds)
