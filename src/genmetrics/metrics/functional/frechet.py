"""Fréchet distance between two Gaussians (the FID of Heusel et al. 2017, "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium")::

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^{1/2})

The trace of the matrix square root is computed with symmetric eigendecompositions instead of
``scipy.linalg.sqrtm``: with ``S_1 = V diag(w) V^T`` (eigenvalues clipped at 0) and
``A = V diag(sqrt(w))`` we have ``S_1 S_2 = A (A^T S_2)``, and ``XY`` and ``YX`` share their
non-zero eigenvalues, so ``S_1 S_2`` has the eigenvalues of the symmetric positive
semi-definite ``A^T S_2 A`` and

    Tr((S_1 S_2)^{1/2}) = sum_i sqrt(max(lambda_i(A^T S_2 A), 0)).

This is exact in exact arithmetic, float64 throughout, faster than a Schur-based ``sqrtm``, and
never fails or turns complex on singular (rank-deficient) covariances. The result is clipped
at 0 to absorb rounding.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats

__all__ = [
    "frechet_distance",
    "frechet_distance_from_stats",
    "rank_warnings",
    "trace_sqrt_product",
]


def _as_mu_sigma(mu: Any, sigma: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise UserError(f"{which}: mu has {d} dims but sigma has shape {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{which}: mean or covariance contains NaN or infinite values")
    return mu, (sigma + sigma.T) * 0.5


NOISE_FACTOR = 16.0
"""Safety factor on the rounding-noise bound ``D · eps · scale`` used by :func:`_clip_noise`."""


def _clip_noise(eig: np.ndarray, scale: float) -> np.ndarray:
    """Eigenvalues within rounding noise of zero set to exactly 0 (negatives too).

    Forming and decomposing a D x D symmetric matrix whose entries are products of magnitude
    ``scale`` leaves each eigenvalue with an absolute error of order ``D · eps · scale``. For
    a true zero that error would enter the trace through its square root (≈ 1e-7 relative,
    and different on every BLAS), so every eigenvalue below
    ``NOISE_FACTOR · D · eps · scale`` counts as 0. A true eigenvalue that small contributes
    no more than the rounding noise would have.
    """
    if eig.size == 0:
        return eig
    tol = NOISE_FACTOR * eig.size * np.finfo(np.float64).eps * scale
    return np.where(eig > tol, eig, 0.0)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr((S_1 S_2)^{1/2})`` for symmetric PSD ``S_1, S_2`` via two symmetric eigensolves;
    eigenvalues within rounding noise of zero count as zero (see :func:`_clip_noise`)."""
    w, v = np.linalg.eigh(sigma1)
    norm1 = float(np.abs(w).max()) if w.size else 0.0
    a = v * np.sqrt(_clip_noise(w, norm1))  # S_1 = A A^T
    m = a.T @ sigma2 @ a
    m = (m + m.T) * 0.5
    eig = np.linalg.eigvalsh(m)
    # ||A||^2 ||S_2|| bounds the entries' products; Frobenius bounds the spectral norm
    return float(np.sqrt(_clip_noise(eig, norm1 * float(np.linalg.norm(sigma2)))).sum())


def rank_warnings(n1: int | None, n2: int | None, d: int) -> list[str]:
    """Why a Fréchet distance on these sample counts is biased: one message per set with
    fewer samples than feature dims (its covariance is then rank-deficient)."""
    out = []
    for n, which in ((n1, "the first set"), (n2, "the second set")):
        if n is not None and n < d:
            out.append(
                f"{which} has {n} samples but {d} feature dims (N < D): its covariance is "
                "rank-deficient and the Fréchet distance is strongly biased; use at least D samples"
            )
    return out


def frechet_distance(
    mu1: Any,
    sigma1: Any,
    mu2: Any,
    sigma2: Any,
    *,
    n1: int | None = None,
    n2: int | None = None,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (see module docstring).

    ``n1``/``n2`` (optional sample counts) only serve to warn when N < D. Returns a finite
    float >= 0.
    """
    mu1, sigma1 = _as_mu_sigma(mu1, sigma1, "first statistics")
    mu2, sigma2 = _as_mu_sigma(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise UserError(
            f"feature dimension mismatch: {mu1.shape[0]} vs {mu2.shape[0]}; both sets must use "
            "the same backbone output"
        )
    for message in rank_warnings(n1, n2, mu1.shape[0]):
        warnings.warn(message, UserWarning, stacklevel=2)
    diff = mu1 - mu2
    value = (
        float(diff @ diff)
        + float(np.trace(sigma1))
        + float(np.trace(sigma2))
        - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return max(value, 0.0)


def frechet_distance_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two :class:`GaussianStats` (warns when N < D for either)."""
    return frechet_distance(a.mean, a.cov, b.mean, b.cov, n1=a.n, n2=b.n)
