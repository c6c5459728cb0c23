"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the squared maximum mean discrepancy between two feature sets under the polynomial
kernel ``k(x, y) = (gamma * x.y + coef0)^degree`` (default cubic, ``gamma = 1 / D``,
``coef0 = 1``). For subsets ``X``, ``Y`` of equal size ``m`` the unbiased estimator is::

    MMD^2 = [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2

(the estimator of the authors' code, torch-fidelity and torchmetrics). It is averaged over
``num_subsets`` random subsets; each subset draws ``m`` distinct rows of each set with
``numpy.random.Generator(seed)`` (one permutation of X, then one of Y, per subset). The returned
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
    scores = np.empty(num_subsets, dtype=np.float64)
    for s in range(num_subsets):
        ix = rng.permutation(x.shape[0])[:m]
        iy = rng.permutation(y.shape[0])[:m]
        scores[s] = polynomial_mmd2(x[ix], y[iy], degree, gamma, coef0)
    return float(scores.mean()), float(scores.std(ddof=0))
