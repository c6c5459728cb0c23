"""GaussianStats: streaming/merge exactness, accuracy with a large mean, npz round trip."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats


def _features(n: int = 1000, d: int = 24, offset: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d))
    return rng.standard_normal((n, d)) @ mix + offset + rng.standard_normal(d)


def test_matches_numpy_mean_and_unbiased_cov():
    x = _features()
    stats = GaussianStats().update(x)
    assert stats.n == len(x) and stats.dim == x.shape[1]
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-12)
    assert np.array_equal(stats.cov, stats.cov.T)


def test_batches_and_shards_merge_to_the_all_at_once_result():
    x = _features(n=997)
    whole = GaussianStats().update(x)
    batched = GaussianStats()
    # uneven batch sizes, including single rows
    bounds = [0, 1, 3, 6, 56, 156, 163, 497, 997]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        batched.update(x[lo:hi])
    shard_a = GaussianStats().update(x[:400])
    shard_b = GaussianStats().update(x[400:700])
    shard_c = GaussianStats().update(x[700:])
    merged = GaussianStats().merge(shard_a).merge(GaussianStats().merge(shard_b).merge(shard_c))
    for other in (batched, merged):
        assert other.n == whole.n
        np.testing.assert_allclose(other.mean, whole.mean, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(other.cov, whole.cov, rtol=1e-12, atol=1e-12)


def test_single_vector_update_and_empty_batch():
    x = _features(n=5)
    stats = GaussianStats()
    for row in x:
        stats.update(row)
    stats.update(np.zeros((0, x.shape[1])))
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-12, atol=1e-12)


def test_large_mean_offset_keeps_precision():
    # The naive sum(x x^T) - n mu mu^T form loses ~all digits here; the centred form does not.
    x = _features(n=2000, d=8, offset=1e7, seed=1).astype(np.float64)
    stats = GaussianStats()
    for lo in range(0, 2000, 128):
        stats.update(x[lo : lo + 128])
    ref = np.cov(x, rowvar=False)
    np.testing.assert_allclose(stats.cov, ref, rtol=1e-7, atol=1e-7 * np.abs(ref).max())


def test_float32_input_is_accumulated_in_float64():
    x = _features(n=300).astype(np.float32)
    stats = GaussianStats().update(x)
    assert stats.mean.dtype == np.float64 and stats.cov.dtype == np.float64
    np.testing.assert_allclose(stats.cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)


def test_to_arrays_round_trip_and_merge_after_load():
    x = _features(n=600)
    full = GaussianStats().update(x)
    first = GaussianStats().update(x[:250]).to_arrays()
    assert set(first) == {"mu", "sigma", "n"} and first["n"] == 250
    loaded = GaussianStats.from_mu_sigma(first["mu"], first["sigma"], first["n"])
    loaded.merge(GaussianStats().update(x[250:]))
    np.testing.assert_allclose(loaded.cov, full.cov, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loaded.mean, full.mean, rtol=1e-13, atol=1e-12)


def test_loaded_without_count_is_read_only():
    x = _features(n=100)
    arrays = GaussianStats().update(x).to_arrays()
    stats = GaussianStats.from_mu_sigma(arrays["mu"], arrays["sigma"])
    assert stats.n is None
    np.testing.assert_array_equal(stats.cov, arrays["sigma"])
    assert stats.to_arrays()["n"] is None
    with pytest.raises(UserError):
        stats.update(x)
    with pytest.raises(UserError):
        GaussianStats().update(x).merge(stats)


def test_user_errors():
    with pytest.raises(UserError, match="dimension mismatch"):
        GaussianStats().update(np.ones((3, 4))).update(np.ones((3, 5)))
    with pytest.raises(UserError, match="NaN"):
        GaussianStats().update(np.array([[1.0, np.nan]]))
    with pytest.raises(UserError, match="at least 2"):
        _ = GaussianStats().update(np.ones((1, 4))).cov
    with pytest.raises(UserError, match="empty"):
        _ = GaussianStats().mean
    with pytest.raises(UserError, match="sigma has shape"):
        GaussianStats.from_mu_sigma(np.zeros(3), np.eye(4))
