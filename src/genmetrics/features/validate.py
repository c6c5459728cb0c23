"""Checks that stored Gaussian statistics are a mean and a covariance matrix, cheaply.

:func:`validate_gaussian` refuses (UserError naming the file) statistics that are not real,
finite, of the right shapes, symmetric, and positive semi-definite within :func:`tolerance`.
Everything but the last is ``O(D^2)`` (one pass over the matrix). Positive semi-definiteness
cannot be decided in ``O(D^2)``: the diagonal, 2x2 minors or random quadratic forms miss a
negative eigenvalue of 1e-3 of the largest (a random unit vector sees an eigenvalue with weight
about 1/D). The exact test of ``lambda_min(S) > -delta`` is whether ``S + delta I`` has a
Cholesky factorisation, and that is the cheapest factorisation there is: ``D^3/3``
multiply-adds in level-3 BLAS (0.1-0.3 s at D = 2048 on 2 cores, ~10x less than the
``eigvalsh`` it replaces, which also spends most of its time in level-2 BLAS). ``delta`` is
the tolerance times ``||S||_F``, an upper bound of the largest eigenvalue within a factor
``sqrt(D)``: lenient by at most that factor, never stricter than the eigenvalue test it
replaces, and far above rounding (a singular float64 covariance of N < D samples passes with
``lambda_min`` at ``~1e-16`` of the largest).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = ["PSD_TOL", "SYMMETRY_TOL", "tolerance", "validate_gaussian"]

SYMMETRY_TOL = 1e-6
"""``max|S - S^T| <= tol * max|S|`` (relative), for float64 files."""
PSD_TOL = 1e-6
"""``lambda_min(S) >= -tol * ||S||_F`` (relative), for float64 files."""


def tolerance(dim: int, dtype: np.dtype) -> float:
    """Relative tolerance of the symmetry and PSD checks: 1e-6, or ``10 sqrt(D) eps`` of the
    stored dtype when larger (a float32 file carries float32 rounding)."""
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
    return max(SYMMETRY_TOL, 10.0 * float(np.sqrt(max(dim, 1))) * eps)


def validate_gaussian(mu: Any, sigma: Any, where: str | os.PathLike) -> None:
    """``mu`` (D,) and ``sigma`` (D, D) real, finite, ``sigma`` symmetric and positive
    semi-definite within :func:`tolerance` (see module docstring); a UserError naming
    ``where`` otherwise."""
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    for name, arr in (("mu", mu), ("sigma", sigma)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise UserError(f"{where}: '{name}' must be a real numeric array, got {arr.dtype}")
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.shape[0] == 0:
        raise UserError(
            f"{where}: 'mu' must be (D,) and 'sigma' (D, D); got {mu.shape} and {sigma.shape}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{where}: the statistics contain NaN or infinite values")
    tol = tolerance(mu.shape[0], sigma.dtype)
    s = sigma.astype(np.float64)
    scale = float(np.abs(s).max())
    asym = float(np.abs(s - s.T).max())
    if asym > tol * scale:
        raise UserError(
            f"{where}: the covariance is not symmetric (max |S - S^T| = {asym:.3g}, more than "
            f"{tol:.0e} x max |S| = {scale:.3g})"
        )
    s = (s + s.T) * 0.5
    diag = np.diagonal(s)
    delta = tol * float(np.linalg.norm(s))
    if delta == 0.0:  # all zeros: the covariance of identical rows
        return
    if float(diag.min()) < -delta:
        i = int(diag.argmin())
        raise UserError(
            f"{where}: the covariance is not positive semi-definite (variance {i} is "
            f"{diag[i]:.3g}); it is not a covariance matrix"
        )
    s[np.diag_indices_from(s)] += delta
    try:
        np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        raise UserError(
            f"{where}: the covariance is not positive semi-definite (it has an eigenvalue "
            f"below -{tol:.0e} x its norm {delta / tol:.3g}); it is not a covariance matrix"
        ) from None
