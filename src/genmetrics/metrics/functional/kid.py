"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy between two feature sets under the polynomial
kernel ``k(x, y) = (gamma * x.y + coef0)^degree`` (default cubic, ``gamma = 1 / D``,
``coef0 = 1``). For subsets ``X``, ``Y`` of equal size ``m`` the unbiased estimator is::

    MMD^2 = [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2

(the estimator of the authors' code, torch-fidelity and torchmetrics). It is averaged over
``num_subsets`` random subsets; each subset draws ``m`` distinct rows of each set with
``numpy.random.Generator(seed)`` (one permutation of X, then one of Y, per subset). When the full kernel blocks fit in memory
(:data:`MAX_BLOCK_ENTRIES`) and cost less than the per-subset products, they are computed once
and every subset's sums are read from them (same draws, same numbers up to float64
rounding). The returned
spread is the population standard deviation (``ddof=0``) over subsets, as torchmetrics
(``std(unbiased=False)``) and torch-fidelity (``np.std``) report it. All math is float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = ["kernel_inception_distance", "polynomial_kernel", "polynomial_mmd2"]


def _features(x: Any, which: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise UserError(f"{which} features must be a 2-D array (rows x dims), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise UserError(f"{which} features contain NaN or infinite values")
    return arr


def polynomial_kernel(
    x: np.ndarray,
    y: np.ndarray,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> np.ndarray:
    """Gram matrix ``(gamma * x y^T + coef0)^degree`` with ``gamma = 1 / D`` by default."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (x @ y.T * gamma + coef0) ** degree


def polynomial_mmd2(
    x: Any,
    y: Any,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> float:
    """Unbiased MMD^2 between two equally sized sets ``x``, ``y`` (m >= 2 rows each)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = x.shape[0]
    if y.shape[0] != m or m < 2:
        raise UserError(f"MMD needs two sets of equal size >= 2, got {m} and {y.shape[0]} rows")
    k_xx = polynomial_kernel(x, x, degree, gamma, coef0)
    k_yy = polynomial_kernel(y, y, degree, gamma, coef0)
    k_xy = polynomial_kernel(x, y, degree, gamma, coef0)
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats_x: Any,
    feats_y: Any,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """KID ``(mean, std)`` over ``num_subsets`` subsets (see module docstring).

    ``subset_size`` is capped at ``min(len(feats_x), len(feats_y))``; ``std`` uses ddof=0.
    """
    x = _features(feats_x, "first")
    y = _features(feats_y, "second")
    if x.shape[1] != y.shape[1]:
        raise UserError(
            f"feature dimension mismatch: {x.shape[1]} vs {y.shape[1]}; both sets must use the "
            "same backbone output"
        )
    if num_subsets < 1:
        raise UserError(f"KID needs at least 1 subset, got num_subsets={num_subsets}")
    m = min(int(subset_size), x.shape[0], y.shape[0])
    if m < 2:
        raise UserError(
            f"KID needs at least 2 samples per set (got {x.shape[0]} and {y.shape[0]}) and "
            f"subset_size >= 2 (got {subset_size})"
        )
    rng = np.random.default_rng(seed)
    draws = [
        (rng.permutation(x.shape[0])[:m], rng.permutation(y.shape[0])[:m])
        for _ in range(num_subsets)
    ]
    if _reuse_blocks(x.shape[0], y.shape[0], m, num_subsets):
        scores = _subset_mmd2_from_blocks(x, y, draws, degree, gamma, coef0)
    else:
        scores = np.array([polynomial_mmd2(x[ix], y[iy], degree, gamma, coef0) for ix, iy in draws])
    return float(scores.mean()), float(scores.std(ddof=0))


MAX_BLOCK_ENTRIES = 1 << 26
"""Largest kernel block (``n_x * n_y`` entries, 512 MiB in float64) computed once and reused
across subsets; larger sets fall back to one kernel product per subset."""


def _reuse_blocks(n_x: int, n_y: int, m: int, subsets: int) -> bool:
    """Whether computing the full ``k(X, X)``, ``k(Y, Y)``, ``k(X, Y)`` blocks once is both
    affordable in memory and cheaper than ``subsets`` separate ``3 m^2`` kernel products."""
    fits = max(n_x * n_y, n_x * n_x, n_y * n_y) <= MAX_BLOCK_ENTRIES
    return fits and (n_x * n_x + n_y * n_y + n_x * n_y) <= 3 * subsets * m * m


def _subset_mmd2_from_blocks(
    x: np.ndarray,
    y: np.ndarray,
    draws: list[tuple[np.ndarray, np.ndarray]],
    degree: int,
    gamma: float | None,
    coef0: float,
) -> np.ndarray:
    """The unbiased MMD^2 of every drawn subset pair from the full kernel blocks.

    With the 0/1 membership matrix ``W`` (subsets x rows), ``sum_{i,j in S} K_ij`` is the
    row-wise ``(W K) * W`` sum and ``sum_{i in S} K_ii`` is ``W diag(K)``: three matrix
    products for all subsets together instead of ``3 x subsets`` kernel products."""
    m = len(draws[0][0])
    wx = np.zeros((len(draws), x.shape[0]))
    wy = np.zeros((len(draws), y.shape[0]))
    for s, (ix, iy) in enumerate(draws):
        wx[s, ix] = 1.0
        wy[s, iy] = 1.0
    k_xx = polynomial_kernel(x, x, degree, gamma, coef0)
    sum_xx = ((wx @ k_xx) * wx).sum(axis=1) - wx @ np.diag(k_xx)
    del k_xx
    k_yy = polynomial_kernel(y, y, degree, gamma, coef0)
    sum_yy = ((wy @ k_yy) * wy).sum(axis=1) - wy @ np.diag(k_yy)
    del k_yy
    k_xy = polynomial_kernel(x, y, degree, gamma, coef0)
    sum_xy = ((wx @ k_xy) * wy).sum(axis=1)
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * sum_xy / (m * m)
