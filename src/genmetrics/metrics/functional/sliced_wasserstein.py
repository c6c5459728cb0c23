"""Sliced Wasserstein distance between two feature sets (Rabin et al. 2011; Bonneel et al.
2015, "Sliced and Radon Wasserstein Barycenters of Measures").

The p-sliced Wasserstein distance between the empirical distributions of ``X`` (N, D) and
``Y`` (M, D) averages the one-dimensional p-Wasserstein distance over random directions
``theta`` on the unit sphere::

    SW_p(X, Y) = ( mean_{l=1..L} W_p^p(theta_l . X, theta_l . Y) )^(1/p)

Directions are ``L`` standard normal vectors normalised to unit length, drawn with
``numpy.random.default_rng(seed)`` (so a seed fixes the number). The one-dimensional distance
is exact for any N and M: ``W_p^p = integral_0^1 |F^-1(t) - G^-1(t)|^p dt`` with both
quantile functions piecewise constant between the breakpoints ``i/N`` and ``j/M``. Needing no
covariance, it stays meaningful for sample sizes far below D. float64 throughout; projections
are processed in blocks so memory is O((N + M) x block).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = ["random_directions", "sliced_wasserstein", "wasserstein_1d_sorted"]


def random_directions(dim: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` seeded unit vectors in R^dim (rows), uniform on the sphere."""
    v = np.random.default_rng(seed).standard_normal((count, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _quantile_grid(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval widths and the sorted-sample index of each quantile function on each interval
    of the merged breakpoints ``{i/n} ∪ {j/m}``."""
    edges = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    edges = np.concatenate([[0.0], edges])
    widths = np.diff(edges)
    keep = widths > 1e-15
    mids = ((edges[:-1] + edges[1:]) * 0.5)[keep]
    ix = np.minimum((mids * n).astype(np.int64), n - 1)
    iy = np.minimum((mids * m).astype(np.int64), m - 1)
    return widths[keep], ix, iy


def wasserstein_1d_sorted(a: np.ndarray, b: np.ndarray, p: float = 2.0) -> np.ndarray:
    """``W_p^p`` between columns of sorted samples ``a`` (N, L) and ``b`` (M, L): (L,)."""
    if a.shape[0] == b.shape[0]:
        return (np.abs(a - b) ** p).mean(axis=0)
    widths, ix, iy = _quantile_grid(a.shape[0], b.shape[0])
    return widths @ (np.abs(a[ix] - b[iy]) ** p)


def sliced_wasserstein(
    x: Any,
    y: Any,
    *,
    projections: int = 1000,
    p: float = 2.0,
    seed: int = 0,
    block: int = 128,
) -> float:
    """``SW_p`` between feature sets ``x`` and ``y`` (see the module docstring)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    for arr, which in ((a, "first"), (b, "second")):
        if arr.ndim != 2 or arr.shape[0] < 1:
            raise UserError(f"{which} features must be a non-empty 2-D array, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise UserError(f"{which} features contain NaN or infinite values")
    if a.shape[1] != b.shape[1]:
        raise UserError(f"feature dimension mismatch: {a.shape[1]} vs {b.shape[1]}")
    if projections < 1 or not p >= 1:
        raise UserError(f"sliced Wasserstein needs projections >= 1 and p >= 1, got {projections}, {p}")
    theta = random_directions(a.shape[1], projections, seed)
    total = 0.0
    for start in range(0, projections, max(1, int(block))):
        t = theta[start : start + block]
        pa = np.sort(a @ t.T, axis=0)
        pb = np.sort(b @ t.T, axis=0)
        total += float(wasserstein_1d_sorted(pa, pb, p).sum())
    return float((total / projections) ** (1.0 / p))
