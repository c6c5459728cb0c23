"""FD∞: re-stated with numpy cov, scipy sqrtm and numpy polyfit on the same seeded draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from genmetrics.errors import UserError
from genmetrics.metrics.functional.fd_infinity import fd_infinity, fd_infinity_sizes


def _fid_scipy(mu1, s1, mu2, s2):
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_matches_restated_chong_forsyth_procedure():
    rng = np.random.default_rng(0)
    gen = rng.standard_normal((400, 6)) * 1.3 + 0.2
    ref = rng.standard_normal((800, 6))
    mu_r, s_r = ref.mean(0), np.cov(ref, rowvar=False)
    res = fd_infinity(gen, mu_r, s_r, points=15, n_min=50, seed=5)
    sizes = np.linspace(50, 400, 15).astype("int32")
    draw = np.random.default_rng(5)
    fds = []
    for n in sizes:
        rows = gen[draw.permutation(400)[:n]]
        fds.append(_fid_scipy(rows.mean(0), np.cov(rows, rowvar=False), mu_r, s_r))
    slope, intercept = np.polyfit(1.0 / sizes, np.array(fds), 1)
    np.testing.assert_array_equal(res.sizes, sizes)
    np.testing.assert_allclose(res.fds, fds, rtol=1e-8)
    assert res.value == pytest.approx(intercept, rel=1e-8)
    assert res.slope == pytest.approx(slope, rel=1e-8)
    assert res.value < res.fds[-1]  # extrapolation removes the positive 1/N bias


def test_sizes_and_errors():
    assert fd_infinity_sizes(50_000)[0] == 5000 and fd_infinity_sizes(50_000)[-1] == 50_000
    assert fd_infinity_sizes(1000)[0] == 200
    with pytest.raises(UserError, match="more generated"):
        fd_infinity_sizes(10, n_min=10)
