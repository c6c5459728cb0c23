"""PRDC: exact agreement with a brute-force cdist implementation, chunk invariance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from genmetrics.errors import UserError
from genmetrics.metrics.functional.prdc import density_coverage, prdc, precision_recall


def _brute_force(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
    """Straight from the definitions, with full distance matrices."""
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    np.fill_diagonal(d_rr, np.inf)  # exclude each sample itself
    np.fill_diagonal(d_ff, np.inf)
    r_pr = np.sort(d_rr, axis=1)[:, k_pr - 1]
    r_dc = np.sort(d_rr, axis=1)[:, k_dc - 1]
    f_pr = np.sort(d_ff, axis=1)[:, k_pr - 1]
    in_real = (d_fr <= r_pr[None, :]).any(axis=1)
    real_in_fake = (d_fr <= f_pr[:, None]).any(axis=0)
    counts = (d_fr < r_dc[None, :]).sum(axis=1)
    covered = d_fr.min(axis=0) < r_dc
    return {
        "precision": in_real.mean(),
        "recall": real_in_fake.mean(),
        "density": counts.sum() / (k_dc * len(fake)),
        "coverage": covered.mean(),
        "fake_in_real_manifold": in_real,
        "fake_real_ball_count": counts,
        "real_in_fake_manifold": real_in_fake,
        "real_covered": covered,
        "fake_nearest_real_distance": d_fr.min(axis=1),
    }


def _sets(seed: int = 0, n: int = 210, m: int = 170, d: int = 16):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d))
    fake = rng.standard_normal((m, d)) * 1.2 + 0.3
    return real, fake


@pytest.mark.parametrize(("k_pr", "k_dc"), [(3, 5), (1, 2), (5, 2), (4, 4)])
def test_equals_brute_force_exactly(k_pr, k_dc):
    real, fake = _sets()
    ref = _brute_force(real, fake, k_pr, k_dc)
    res = prdc(real, fake, k_pr=k_pr, k_dc=k_dc, chunk_size=64)
    for key in ("precision", "recall", "density", "coverage"):
        assert res[key] == ref[key], key
    for key in (
        "fake_in_real_manifold",
        "fake_real_ball_count",
        "real_in_fake_manifold",
        "real_covered",
    ):
        np.testing.assert_array_equal(getattr(res, key), ref[key])
    np.testing.assert_allclose(
        res.fake_nearest_real_distance, ref["fake_nearest_real_distance"], rtol=1e-10
    )
    assert 0 < res.precision < 1 and 0 < res.recall < 1 and 0 < res.coverage < 1


def test_chunk_size_invariance_and_float32_input():
    real, fake = _sets(seed=1)
    results = [prdc(real, fake, chunk_size=c) for c in (1, 7, 64, 10_000)]
    for res in results[1:]:
        assert res.as_dict() == results[0].as_dict()
        np.testing.assert_array_equal(res.fake_real_ball_count, results[0].fake_real_ball_count)
        np.testing.assert_array_equal(res.real_in_fake_manifold, results[0].real_in_fake_manifold)
    f32 = prdc(real.astype(np.float32), fake.astype(np.float32))
    ref32 = _brute_force(
        real.astype(np.float32).astype(np.float64), fake.astype(np.float32).astype(np.float64), 3, 5
    )
    assert f32.precision == ref32["precision"] and f32.density == ref32["density"]


def test_single_metric_helpers_match_prdc():
    real, fake = _sets(seed=2)
    full = prdc(real, fake, k_pr=3, k_dc=5, chunk_size=50)
    assert precision_recall(real, fake, k=3, chunk_size=50) == (full.precision, full.recall)
    assert density_coverage(real, fake, k=5, chunk_size=50) == (full.density, full.coverage)


def test_identical_sets_are_perfect():
    real, _ = _sets(seed=3)
    res = prdc(real, real.copy())
    assert res.precision == 1.0 and res.recall == 1.0 and res.coverage == 1.0
    assert res.density > 0.5


def test_radius_excludes_self_but_not_duplicates():
    # Four points on a line; with k=1 each real radius is the gap to its neighbour, not 0.
    real = np.array([[0.0], [1.0], [3.0], [6.0]])
    fake = np.array([[0.5], [4.5], [10.0]])
    res = prdc(real, fake, k_pr=1, k_dc=1)
    # radii 1, 1, 2, 3: 0.5 lies in the balls of 0 and 1, 4.5 in those of 3 and 6, 10 in none
    np.testing.assert_array_equal(res.fake_in_real_manifold, [True, True, False])
    np.testing.assert_array_equal(res.fake_real_ball_count, [2, 2, 0])
    # A duplicated real point has a k=1 radius of 0, so only exact hits could be inside it.
    dup_real = np.array([[0.0], [0.0], [50.0], [51.0]])  # k=1 radii 0, 0, 1, 1
    dup = prdc(dup_real, np.array([[0.0], [0.1]]), k_pr=1, k_dc=1)
    np.testing.assert_array_equal(dup.fake_in_real_manifold, [True, False])


def test_user_errors():
    real, fake = _sets()
    with pytest.raises(UserError, match="at least 6 real"):
        prdc(real[:5], fake)
    with pytest.raises(UserError, match="at least 4 fake"):
        prdc(real, fake[:3])
    with pytest.raises(UserError, match="dimension mismatch"):
        prdc(real, fake[:, :3])
    with pytest.raises(UserError, match="chunk_size"):
        prdc(real, fake, chunk_size=0)
