"""Fréchet distance: vs scipy sqrtm, a plain numpy formula, torchmetrics, exact cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.frechet import (
    frechet_distance,
    frechet_distance_from_stats,
    trace_sqrt_product,
)


def _correlated(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Non-negative, correlated features with a decaying spectrum (pool3-like)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    z = rng.standard_normal((n, d)) * np.linspace(2.0, 0.05, d)
    return np.maximum(z @ mix + 0.5 + shift, 0.0)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _fid_sqrtm(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real
    )


def _fid_eigvals(mu1, s1, mu2, s2) -> float:
    tr = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real.sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


def _reflections(rng: np.random.Generator, d: int, count: int = 3) -> np.ndarray:
    """A random orthogonal matrix as a product of Householder reflections."""
    q = np.eye(d)
    for _ in range(count):
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        q -= 2.0 * np.outer(q @ v, v)
    return q


def test_trace_sqrt_product_small_exact():
    rng = np.random.default_rng(12)
    q1, q2 = _reflections(rng, 6), _reflections(rng, 6)
    w, c = np.array([4.0, 2, 1, 0.5, 0.2, 0.1]), np.array([9.0, 4, 1, 0.25, 0, 0])
    s1 = (q1 * w) @ q1.T
    s1_inv_sqrt = (q1 / np.sqrt(w)) @ q1.T
    s2 = s1_inv_sqrt @ ((q2 * c) @ q2.T) @ s1_inv_sqrt
    # Two of the true eigenvalues are 0. Unclipped, their rounding noise (~1e-15, BLAS
    # dependent) entered through its square root: 6.500000021. With the noise clipped the
    # error is first order in eps times the conditioning (~1e-14 measured); 1e-10 leaves
    # room for any BLAS.
    assert trace_sqrt_product(s1, (s2 + s2.T) / 2) == pytest.approx(3 + 2 + 1 + 0.5, rel=1e-10)


def test_noise_level_eigenvalues_count_as_zero():
    """Rank-1 S_1 and S_2 whose product is zero: the trace is exactly 0, not ~1e-8."""
    d = 64
    u = np.zeros(d)
    u[0] = 1.0
    v = np.zeros(d)
    v[1] = 1.0
    q = _reflections(np.random.default_rng(5), d)
    s1, s2 = q @ np.outer(u, u) @ q.T * 7.0, q @ np.outer(v, v) @ q.T * 3.0
    assert trace_sqrt_product(s1, s2) == 0.0


@pytest.mark.parametrize(("n", "d"), [(3000, 64), (2000, 256)])
def test_matches_sqrtm_and_numpy_eigvals_on_full_rank(n, d):
    mu1, s1 = _stats(_correlated(n, d, seed=1))
    mu2, s2 = _stats(_correlated(n, d, seed=2, shift=0.1))
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = _fid_sqrtm(mu1, s1, mu2, s2)
    assert ours > 0
    assert abs(ours - ref) <= 1e-6 * abs(ref)  # measured ~1e-14 relative
    assert abs(ours - _fid_eigvals(mu1, s1, mu2, s2)) <= 1e-6 * abs(ref)


def test_exact_non_commuting_2048d():
    """S2 = S1^{-1/2} C S1^{-1/2} makes S1 S2 similar to C: Tr sqrt(S1 S2) = sum sqrt(eig C).
    (Sample counts above D let both factors be Cholesky factors, the fast route.)"""
    d = 2048
    rng = np.random.default_rng(3)
    q1, q2 = _reflections(rng, d), _reflections(rng, d)  # orthogonal, cheaper than a QR
    w = np.geomspace(10.0, 0.1, d)  # decaying, realistic spread
    c = np.geomspace(5.0, 0.01, d)
    s1 = (q1 * w) @ q1.T
    s1_inv_sqrt = (q1 / np.sqrt(w)) @ q1.T
    s2 = s1_inv_sqrt @ ((q2 * c) @ q2.T) @ s1_inv_sqrt
    s2 = (s2 + s2.T) / 2
    expected_tr = np.sqrt(c).sum()
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * expected_tr
    assert abs(frechet_distance(mu1, s1, mu2, s2, n1=5000, n2=5000) - expected) <= 1e-6 * expected


def test_diagonal_closed_form():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0, 3, 50), rng.uniform(0, 3, 50)
    mu1, mu2 = rng.standard_normal(50), rng.standard_normal(50)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_identical_statistics_give_zero_not_negative():
    mu, s = _stats(_correlated(500, 64, seed=5))
    value = frechet_distance(mu, s, mu, s)
    assert 0.0 <= value < 1e-9


def test_rank_deficient_is_finite_and_warns():
    # N < D: both covariances are singular; sqrtm of their product is ill-defined.
    x, y = _correlated(40, 128, seed=6), _correlated(30, 128, seed=7, shift=0.2)
    a, b = GaussianStats().update(x), GaussianStats().update(y)
    with pytest.warns(UserWarning, match="N < D"):
        value = frechet_distance_from_stats(a, b)
    assert np.isfinite(value) and value >= 0.0
    # exactly singular (zero-variance dims) too
    s = np.zeros((10, 10))
    s[:3, :3] = np.eye(3)
    assert np.isfinite(frechet_distance(np.zeros(10), s, np.ones(10), np.zeros((10, 10))))


def test_no_warning_when_n_at_least_d():
    a = GaussianStats().update(_correlated(200, 16, seed=8))
    b = GaussianStats().update(_correlated(200, 16, seed=9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance_from_stats(a, b)


def test_dimension_mismatch_is_a_user_error():
    with pytest.raises(UserError, match="dimension mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_parity_with_torchmetrics_fid():
    torch = pytest.importorskip("torch")
    fid_mod = pytest.importorskip("torchmetrics.image.fid")

    class Identity(torch.nn.Module):
        num_features = 64

        def forward(self, x):
            return x

    x = _correlated(3000, 64, seed=10)
    y = _correlated(2500, 64, seed=11, shift=0.05)
    metric = fid_mod.FrechetInceptionDistance(feature=Identity(), normalize=False)
    for lo in range(0, 3000, 500):
        metric.update(torch.from_numpy(x[lo : lo + 500]), real=True)
    metric.update(torch.from_numpy(y), real=False)
    ref = float(metric.compute())
    a = GaussianStats()
    for lo in range(0, 3000, 700):
        a.update(x[lo : lo + 700])
    ours = frechet_distance_from_stats(a, GaussianStats().update(y))
    assert abs(ours - ref) <= 1e-8 * ref  # measured ~1e-13 relative (both float64)
