"""Fréchet distance between two Gaussians (the FID of Heusel et al. 2017, "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium")::

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^{1/2})

The trace of the matrix square root is a nuclear norm. With any factors ``S_i = A_i A_i^T``
(``A_i`` of shape D x r_i), ``S_1 S_2 = A_1 (A_1^T A_2 A_2^T)``, and ``XY`` and ``YX`` share
their non-zero eigenvalues, so the eigenvalues of ``S_1 S_2`` are those of ``B B^T`` with
``B = A_1^T A_2`` (r_1 x r_2), i.e. the squared singular values of ``B``, and

    Tr((S_1 S_2)^{1/2}) = sum_i sigma_i(A_1^T A_2) = ||A_1^T A_2||_*.

Two factors serve:

* from statistics, ``A = V diag(sqrt(w))`` of the symmetric eigendecomposition ``S = V diag(w)
  V^T``, dropping eigenvalues within rounding noise of zero (:func:`psd_factor`);
* from the feature rows themselves, ``A = X_c^T / sqrt(n - 1)`` (``X_c`` the centred n x D rows,
  the unbiased covariance of :class:`~genmetrics.features.gaussian.GaussianStats`): then ``B``
  is the n_1 x n_2 matrix ``X_1c X_2c^T / sqrt((n_1 - 1)(n_2 - 1))``, exact, and its cost grows
  with N instead of D (:func:`frechet_distance_from_features`).

Taking singular values of ``B`` instead of eigenvalues of ``B B^T`` matters: an eigensolver
returns the small eigenvalues of ``B B^T`` with an absolute error of order ``eps ||B||^2``, which
a square root turns into ``sqrt(eps) ||B||`` (so a genuine small value and rounding noise
cannot be told apart), while an SVD returns every singular value with an absolute error of
order ``eps ||B||``. Float64 throughout; never fails or turns complex on singular
(rank-deficient) covariances; the result is clipped at 0 to absorb rounding.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats

__all__ = [
    "feature_factor",
    "frechet_distance",
    "frechet_distance_from_features",
    "frechet_distance_from_stats",
    "nuclear_norm_product",
    "psd_factor",
    "rank_warnings",
    "trace_sqrt_product",
]

_EPS = float(np.finfo(np.float64).eps)

NOISE_FACTOR = 16.0
"""Safety factor on the rounding-noise bounds of :func:`psd_factor` and
:func:`nuclear_norm_product`."""

CHOLESKY_PIVOT_FLOOR = 1e-9
"""Smallest Cholesky pivot (relative to the largest variance) :func:`psd_factor` accepts:
1000 times above the rounding level of a singular 2048-d covariance (``D · eps`` ≈ 5e-13),
far below the pivots of a full-rank one (each pivot is at least the smallest eigenvalue)."""


def _as_mu_sigma(mu: Any, sigma: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise UserError(f"{which}: mu has {d} dims but sigma has shape {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{which}: mean or covariance contains NaN or infinite values")
    return mu, (sigma + sigma.T) * 0.5


def psd_factor(sigma: np.ndarray, n: int | None = None) -> np.ndarray:
    """A D x r factor ``A`` with ``A A^T = sigma`` up to rounding, for symmetric PSD ``sigma``.

    * When ``sigma`` is the covariance of ``n > D`` samples (full rank expected), its Cholesky
      factor (``D^3/3`` flops, several times cheaper than an eigendecomposition), kept only
      when every pivot is above ``CHOLESKY_PIVOT_FLOOR`` times the largest variance: a
      covariance that is singular after all (constant or linearly dependent features) fails
      the factorisation or leaves a pivot at rounding level and takes the eigen route.
    * Otherwise the eigenvectors scaled by the square roots of their eigenvalues. Decomposing
      a D x D symmetric matrix leaves each eigenvalue with an absolute error of order
      ``D · eps · max|w|``; for a true zero (a rank-deficient covariance) that error would
      enter the trace through its square root (≈ 1e-7 relative, different on every BLAS), so
      eigenvalues at or below ``NOISE_FACTOR · D · eps · max|w|`` (negatives included) are
      dropped. Genuine covariance eigenvalues are many orders above that bound (2048-d: 7e-12
      of the largest).
    """
    d = sigma.shape[0]
    if d == 0:
        return np.zeros((0, 0))
    if n is not None and n > d:
        try:
            low = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            low = None
        if low is not None:
            pivots = np.diagonal(low) ** 2
            if pivots.min() > CHOLESKY_PIVOT_FLOOR * float(np.diagonal(sigma).max()):
                return low
    w, v = np.linalg.eigh(sigma)
    tol = NOISE_FACTOR * w.size * _EPS * float(np.abs(w).max())
    keep = w > tol
    return v[:, keep] * np.sqrt(w[keep])


def feature_factor(x: Any, which: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """``(mu, A)`` of feature rows ``x`` (n x D): the mean and ``A = (x - mu)^T / sqrt(n - 1)``
    (D x n), so that ``A A^T`` is the unbiased covariance (``np.cov``, pytorch-fid, and
    :class:`~genmetrics.features.gaussian.GaussianStats`)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"{which} must be a 2-D array (rows x dims), got shape {x.shape}")
    if x.shape[0] < 2:
        raise UserError(f"a covariance needs at least 2 feature rows, got {x.shape[0]}; add more images")
    if not np.isfinite(x).all():
        raise UserError(f"{which} contain NaN or infinite values; check the feature extractor")
    mu = x.mean(axis=0)
    return mu, (x - mu).T / np.sqrt(x.shape[0] - 1)


def nuclear_norm_product(a1: np.ndarray, a2: np.ndarray) -> float:
    """``||A_1^T A_2||_*``, the sum of the singular values: ``Tr((S_1 S_2)^{1/2})`` for
    ``S_i = A_i A_i^T`` (see module docstring).

    Singular values at or below ``NOISE_FACTOR · sqrt(D) · eps · ||A_1||_F ||A_2||_F`` (the
    rounding error of forming the product) count as zero, so statistics with orthogonal
    supports give exactly 0. Even if every one of the ``min(r_1, r_2)`` values were genuine
    and that small, they would move the Fréchet distance by less than
    ``8 D^{3/2} eps`` of ``Tr(S_1) + Tr(S_2)`` (2e-10 at D = 2048).
    """
    if a1.shape[0] != a2.shape[0]:
        raise UserError(f"feature dimension mismatch: {a1.shape[0]} vs {a2.shape[0]}")
    if a1.size == 0 or a2.size == 0:
        return 0.0
    s = np.linalg.svd(a1.T @ a2, compute_uv=False)
    tol = NOISE_FACTOR * np.sqrt(a1.shape[0]) * _EPS * float(np.linalg.norm(a1) * np.linalg.norm(a2))
    return float(s[s > tol].sum())


def trace_sqrt_product(
    sigma1: np.ndarray, sigma2: np.ndarray, n1: int | None = None, n2: int | None = None
) -> float:
    """``Tr((S_1 S_2)^{1/2})`` for symmetric PSD ``S_1, S_2`` (of ``n1``/``n2`` samples when
    known): a factor of each (:func:`psd_factor`), then the singular values of ``A_1^T A_2``."""
    return nuclear_norm_product(psd_factor(sigma1, n1), psd_factor(sigma2, n2))


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


def _warn(n1: int | None, n2: int | None, d: int) -> None:
    for message in rank_warnings(n1, n2, d):
        warnings.warn(message, UserWarning, stacklevel=3)


def _combine(mu1: np.ndarray, tr1: float, mu2: np.ndarray, tr2: float, trace_sqrt: float) -> float:
    if mu1.shape != mu2.shape:
        raise UserError(
            f"feature dimension mismatch: {mu1.shape[0]} vs {mu2.shape[0]}; both sets must use "
            "the same backbone output"
        )
    diff = mu1 - mu2
    return max(float(diff @ diff) + tr1 + tr2 - 2.0 * trace_sqrt, 0.0)


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

    ``n1``/``n2`` (optional sample counts) warn when N < D and let a covariance of more
    samples than dims be factored by Cholesky (:func:`psd_factor`). Returns a finite float
    >= 0.
    """
    mu1, sigma1 = _as_mu_sigma(mu1, sigma1, "first statistics")
    mu2, sigma2 = _as_mu_sigma(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        _combine(mu1, 0.0, mu2, 0.0, 0.0)  # the dimension error
    _warn(n1, n2, mu1.shape[0])
    return _combine(mu1, float(np.trace(sigma1)), mu2, float(np.trace(sigma2)),
                    trace_sqrt_product(sigma1, sigma2, n1, n2))


def frechet_distance_from_features(x1: Any, x2: Any, *, warn: bool = True) -> float:
    """Fréchet distance between the Gaussians of two sets of feature rows (n_i x D), by the
    n_1 x n_2 route (module docstring): exact, ``O(n_1 n_2 D)`` time and no D x D matrix, the
    route of choice when ``min(n_1, n_2) < D``. Warns when N < D unless ``warn`` is False."""
    mu1, a1 = feature_factor(x1, "first features")
    mu2, a2 = feature_factor(x2, "second features")
    if mu1.shape != mu2.shape:
        _combine(mu1, 0.0, mu2, 0.0, 0.0)
    if warn:
        _warn(a1.shape[1], a2.shape[1], mu1.shape[0])
    return _combine(mu1, float(np.sum(a1 * a1)), mu2, float(np.sum(a2 * a2)),
                    nuclear_norm_product(a1, a2))


def _side(stats: GaussianStats, rows: Any) -> tuple[np.ndarray, float, np.ndarray]:
    """(mu, trace, factor) of one side: from its feature rows when given and no more than D
    (exact, cheap), else the eigen factor of its covariance, computed once per statistics."""
    if rows is not None:
        x = np.asarray(rows)
        if x.ndim == 2 and 2 <= x.shape[0] <= x.shape[1]:
            mu, a = feature_factor(x)
            return mu, float(np.sum(a * a)), a
    cov = stats.cov
    factor = stats.derived("psd_factor", lambda: psd_factor(cov, stats.n))
    return stats.mean, float(np.trace(cov)), factor


def frechet_distance_from_stats(
    a: GaussianStats, b: GaussianStats, *, rows_a: Any = None, rows_b: Any = None,
    warn: bool = True,
) -> float:
    """Fréchet distance between two :class:`GaussianStats`; warns when N < D for either
    (unless ``warn`` is False).

    ``rows_a``/``rows_b`` are the feature rows the statistics were made from, when the caller
    kept them: a side with no more rows than dims then enters through its rows (the exact
    n x D factor), any other side through the eigen factor of its covariance, cached on the
    statistics object (a reference compared with many subsets is decomposed once)."""
    mu1, tr1, f1 = _side(a, rows_a)
    mu2, tr2, f2 = _side(b, rows_b)
    if mu1.shape != mu2.shape:
        _combine(mu1, 0.0, mu2, 0.0, 0.0)
    if warn:
        _warn(a.n, b.n, mu1.shape[0])
    return _combine(mu1, tr1, mu2, tr2, nuclear_norm_product(f1, f2))
