"""Fréchet distance accuracy against exact values, and the n x n route from feature rows.

The exact values come from constructions with a closed form (commuting covariances) or from
the singular values of the n_1 x n_2 product of the centred feature rows computed here
directly (an independent statement of ``Tr((S_1 S_2)^{1/2}) = ||X_1 X_2^T||_*``).
Before the fix the eigenvalues of the second eigensolve below a noise bound were zeroed: on
these constructions FD came out 7e-6 to 7e-5 relative too high.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional import frechet
from genmetrics.metrics.functional.frechet import (
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_from_stats,
    psd_factor,
)


def _orthogonal(rng: np.random.Generator, d: int, count: int = 3) -> np.ndarray:
    q = np.eye(d)
    for _ in range(count):
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        q -= 2.0 * np.outer(q @ v, v)
    return q


def _features(n: int, q: np.ndarray, seed: int, decay: float, scale: float = 1.0) -> np.ndarray:
    """Rows whose covariance spectrum decays geometrically to ``decay**2`` (DINOv2-like: a
    few genuine directions with tiny variance)."""
    d = q.shape[0]
    z = np.random.default_rng(seed).standard_normal((n, d)) * np.geomspace(1.0, decay, d)
    return scale * (z @ q.T) + 0.3


def _exact_from_rows(x: np.ndarray, y: np.ndarray) -> float:
    xc = (x - x.mean(0)) / np.sqrt(len(x) - 1)
    yc = (y - y.mean(0)) / np.sqrt(len(y) - 1)
    tr = np.linalg.svd(xc @ yc.T, compute_uv=False).sum()
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + (xc**2).sum() + (yc**2).sum() - 2.0 * tr)


def _stats(x: np.ndarray) -> GaussianStats:
    return GaussianStats().update(x)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("d", [64, 256])
def test_commuting_covariances_with_tiny_aligned_eigenvalues(d):
    """S1 = Q diag(w) Q^T, S2 = Q diag(c) Q^T: Tr sqrt(S1 S2) = sum sqrt(w c), with products
    down to 1e-16 of the largest (below the old cut; before: 7e-6 / 2.6e-5 relative)."""
    q = _orthogonal(np.random.default_rng(d), d)
    w, c = np.geomspace(1.0, 1e-8, d), np.geomspace(2.0, 2e-8, d)
    s1, s2 = (q * w) @ q.T, (q * c) @ q.T
    mu1, mu2 = np.zeros(d), np.full(d, 1e-3)
    exact = float(mu2 @ mu2 + ((np.sqrt(w) - np.sqrt(c)) ** 2).sum())
    assert _rel(frechet_distance(mu1, s1, mu2, s2), exact) <= 1e-8  # measured ~1e-14
    assert _rel(frechet_distance(mu1, s1, mu2, s2, n1=10 * d, n2=10 * d), exact) <= 1e-8


@pytest.mark.parametrize("decay", [1e-2, 1e-5])
def test_full_rank_features_match_the_exact_value(decay):
    """N > D, a spectrum down to 1e-10 of the largest variance (before: 6.9e-5 relative at
    decay 1e-5); both factor routes (eigen without counts, Cholesky with them)."""
    q = _orthogonal(np.random.default_rng(7), 256)
    x = _features(600, q, seed=1, decay=decay)
    y = _features(650, q, seed=2, decay=decay, scale=1.1)
    exact = _exact_from_rows(x, y)
    a, b = _stats(x), _stats(y)
    assert _rel(frechet_distance(a.mean, a.cov, b.mean, b.cov), exact) <= 1e-8
    assert _rel(frechet_distance_from_stats(a, b), exact) <= 1e-8  # measured ~1e-13


@pytest.mark.parametrize(("decay", "n1", "n2"), [(1e-4, 100, 140), (1e-5, 200, 230), (1e-6, 150, 250)])
def test_rank_deficient_features_match_the_exact_value(decay, n1, n2):
    """N < D with genuine eigenvalues down to ~1e-10 of the largest (before: 2.3e-5 and 3.2e-5
    relative for the last two; the first passed)."""
    q = _orthogonal(np.random.default_rng(8), 256)
    x = _features(n1, q, seed=3, decay=decay)
    y = _features(n2, q, seed=4, decay=decay, scale=0.9)
    exact = _exact_from_rows(x, y)
    a, b = _stats(x), _stats(y)
    with pytest.warns(UserWarning, match="N < D"):
        dd = frechet_distance(a.mean, a.cov, b.mean, b.cov, n1=a.n, n2=b.n)
    assert _rel(dd, exact) <= 1e-8
    with pytest.warns(UserWarning, match="N < D"):
        nn = frechet_distance_from_features(x, y)
    assert _rel(nn, exact) <= 1e-12


@pytest.mark.parametrize(("n1", "n2", "d"), [(60, 90, 512), (300, 200, 512), (100, 1000, 256)])
def test_features_route_equals_the_dxd_route(n1, n2, d):
    """Pool3-like non-negative features; the n x n route, the mixed route (rows on one side,
    the other's covariance factored) and the D x D route agree within 1e-9."""
    rng = np.random.default_rng(n1 + n2)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    x = np.maximum(rng.standard_normal((n1, d)) * np.linspace(2, 0.05, d) @ mix + 0.5, 0)
    y = np.maximum(rng.standard_normal((n2, d)) * np.linspace(2, 0.05, d) @ mix + 0.55, 0)
    a, b = _stats(x), _stats(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dd = frechet_distance(a.mean, a.cov, b.mean, b.cov)
        nn = frechet_distance_from_features(x, y)
        mixed = frechet_distance_from_stats(a, b, rows_a=x)
        both = frechet_distance_from_stats(a, b, rows_a=x, rows_b=y)
    assert _rel(nn, dd) <= 1e-9
    assert _rel(mixed, dd) <= 1e-9
    assert _rel(both, dd) <= 1e-9


def test_reference_factor_is_computed_once(monkeypatch):
    """A reference compared with many subsets (benchmark styles) is factored once."""
    calls = []
    real = frechet.psd_factor
    monkeypatch.setattr(frechet, "psd_factor", lambda s, n=None: calls.append(n) or real(s, n))
    rng = np.random.default_rng(0)
    ref = _stats(rng.standard_normal((300, 32)))
    for seed in range(4):
        rows = np.random.default_rng(seed).standard_normal((20, 32)) + 0.1
        frechet_distance_from_stats(_stats(rows), ref, rows_a=rows, warn=False)
    assert calls == [300]
    ref.update(rng.standard_normal((5, 32)))  # new rows: the factor is stale, recomputed
    frechet_distance_from_stats(_stats(rows), ref, rows_a=rows, warn=False)
    assert calls == [300, 305]


def test_singular_covariance_of_many_samples_takes_the_eigen_route():
    """More samples than dims, but a constant feature and an exact linear relation: Cholesky
    fails or leaves a rounding-level pivot, and the eigen factor drops the null directions."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 40))
    x[:, 5] = 2.0
    x[:, 7] = x[:, 3] - 0.5 * x[:, 9]
    y = rng.standard_normal((300, 40)) * 0.8
    y[:, 7] = y[:, 3] + y[:, 1]
    a, b = _stats(x), _stats(y)
    factor = psd_factor(a.cov, a.n)
    assert factor.shape == (40, 38)  # two null directions dropped
    assert _rel(frechet_distance_from_stats(a, b), _exact_from_rows(x, y)) <= 1e-10


def test_cholesky_and_eigen_factors_give_the_same_distance():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((500, 48)), rng.standard_normal((400, 48)) * 1.2 + 0.1
    a, b = _stats(x), _stats(y)
    chol = frechet_distance(a.mean, a.cov, b.mean, b.cov, n1=a.n, n2=b.n)
    eig = frechet_distance(a.mean, a.cov, b.mean, b.cov)
    assert np.allclose(np.tril(psd_factor(a.cov, a.n)), psd_factor(a.cov, a.n))  # Cholesky
    assert _rel(chol, eig) <= 1e-12


def test_features_route_input_errors():
    from genmetrics.errors import UserError

    with pytest.raises(UserError, match="at least 2 feature rows"):
        frechet_distance_from_features(np.ones((1, 4)), np.ones((3, 4)))
    with pytest.raises(UserError, match="dimension mismatch"):
        frechet_distance_from_features(np.ones((3, 4)), np.ones((3, 5)), warn=False)
    with pytest.raises(UserError, match="NaN"):
        frechet_distance_from_features(np.full((3, 4), np.nan), np.ones((3, 4)))
