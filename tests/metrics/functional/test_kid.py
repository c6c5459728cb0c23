"""KID: unbiased polynomial MMD^2, subsets, capping, torchmetrics parity."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.metrics.functional.kid import (
    kernel_inception_distance,
    polynomial_kernel,
    polynomial_mmd2,
)


def _feats(n: int, d: int = 32, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.abs(rng.standard_normal((n, d)) + shift)


def _mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook unbiased MMD^2 (cubic kernel, gamma = 1/D) with explicit loops."""
    m, d = x.shape

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_polynomial_mmd2_matches_loops():
    x, y = _feats(12, 5, seed=1), _feats(12, 5, seed=2, shift=0.3)
    assert polynomial_mmd2(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-12)


def test_polynomial_kernel_default_gamma():
    x = _feats(4, 8)
    np.testing.assert_allclose(polynomial_kernel(x, x), (x @ x.T / 8 + 1) ** 3, rtol=1e-14)


def test_subset_size_is_capped_and_full_subsets_have_zero_spread():
    x, y = _feats(60, seed=3), _feats(45, seed=4, shift=0.5)
    capped = kernel_inception_distance(x, y, num_subsets=5, subset_size=1000)
    explicit = kernel_inception_distance(x, y, num_subsets=5, subset_size=45)
    assert capped == explicit
    # A subset of all rows is the same set every time: MMD is permutation invariant.
    mean, std = kernel_inception_distance(x[:45], y, num_subsets=4, subset_size=1000)
    assert mean == pytest.approx(polynomial_mmd2(x[:45], y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_seeded_and_separates_distributions():
    x, y, z = _feats(200, seed=5), _feats(200, seed=6), _feats(200, seed=7, shift=1.0)
    a = kernel_inception_distance(x, y, num_subsets=20, subset_size=50, seed=1)
    assert a == kernel_inception_distance(x, y, num_subsets=20, subset_size=50, seed=1)
    assert a != kernel_inception_distance(x, y, num_subsets=20, subset_size=50, seed=2)
    far = kernel_inception_distance(x, z, num_subsets=20, subset_size=50, seed=1)
    assert abs(a[0]) < 3 * a[1] + 1e-3 and far[0] > 10 * (abs(a[0]) + a[1])


def test_user_errors():
    with pytest.raises(UserError, match="dimension mismatch"):
        kernel_inception_distance(_feats(10, 4), _feats(10, 5))
    with pytest.raises(UserError, match="at least 2"):
        kernel_inception_distance(_feats(1), _feats(10))


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance`")
def test_parity_with_torchmetrics_kid():
    torch = pytest.importorskip("torch")
    kid_mod = pytest.importorskip("torchmetrics.image.kid")

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    real = _feats(120, 64, seed=8)
    fake = _feats(100, 64, seed=9, shift=0.2)
    subsets, size = 10, 40
    metric = kid_mod.KernelInceptionDistance(feature=Identity(), subsets=subsets, subset_size=size)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    torch.manual_seed(123)
    ref_mean, ref_std = (float(v) for v in metric.compute())
    # Replay torchmetrics' subset draws (torch.randperm) and score each with our estimator.
    torch.manual_seed(123)
    scores = []
    for _ in range(subsets):
        ir = torch.randperm(len(real))[:size].numpy()
        i_f = torch.randperm(len(fake))[:size].numpy()
        scores.append(polynomial_mmd2(real[ir], fake[i_f]))
    assert np.mean(scores) == pytest.approx(ref_mean, rel=1e-10)  # measured ~1e-15
    assert np.std(scores, ddof=0) == pytest.approx(ref_std, rel=1e-8)  # population std

    # Same-size, all-row subsets: our full function agrees exactly with torchmetrics.
    metric = kid_mod.KernelInceptionDistance(feature=Identity(), subsets=3, subset_size=100)
    metric.update(torch.from_numpy(real[:100]), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    ref_mean = float(metric.compute()[0])
    mean, _ = kernel_inception_distance(real[:100], fake, num_subsets=3, subset_size=100)
    assert mean == pytest.approx(ref_mean, rel=1e-10)


def test_kernel_block_reuse_gives_the_per_subset_numbers(monkeypatch):
    """The reused-block path and the per-subset path read the same seeded draws."""
    import genmetrics.metrics.functional.kid as kid

    x, y = _feats(70, 24, seed=7), _feats(55, 24, seed=8, shift=0.2)
    fast = kid.kernel_inception_distance(x, y, num_subsets=9, subset_size=30, seed=3)
    assert kid._reuse_blocks(70, 55, 30, 9)
    monkeypatch.setattr(kid, "_reuse_blocks", lambda *a: False)
    slow = kid.kernel_inception_distance(x, y, num_subsets=9, subset_size=30, seed=3)
    assert fast[0] == pytest.approx(slow[0], rel=1e-11)
    assert fast[1] == pytest.approx(slow[1], rel=1e-9)


def test_block_reuse_is_skipped_when_blocks_cost_more_or_do_not_fit(monkeypatch):
    import genmetrics.metrics.functional.kid as kid

    assert not kid._reuse_blocks(50_000, 50_000, 1000, 100)  # 7.5e9 entries
    assert kid._reuse_blocks(2000, 2000, 1000, 100)
    monkeypatch.setattr(kid, "MAX_BLOCK_ENTRIES", 100)
    assert not kid._reuse_blocks(20, 20, 10, 100)


def test_kid_120_vs_120_computes_three_kernel_blocks_not_300(monkeypatch):
    """The issue's case (KID on 120 vs 120 took 300 kernel products): the blocks are now
    computed once (timings live in benchmarks/bench_modern_metrics.py, not in tests)."""
    from genmetrics.metrics.functional import kid as kid_module

    calls = []
    real = kid_module.polynomial_kernel
    monkeypatch.setattr(kid_module, "polynomial_kernel", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((120, 64))).astype(np.float32)
    y = np.abs(rng.standard_normal((120, 64)) + 0.1).astype(np.float32)
    kernel_inception_distance(x, y, num_subsets=100, subset_size=1000)
    assert len(calls) <= 3
