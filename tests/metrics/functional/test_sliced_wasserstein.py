"""Sliced Wasserstein: scipy's 1-D Wasserstein on the same seeded projections, and sorted pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from genmetrics.metrics.functional.sliced_wasserstein import random_directions, sliced_wasserstein


def test_p1_unequal_sizes_matches_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((37, 9)), rng.standard_normal((23, 9)) + 0.5
    theta = random_directions(9, 40, seed=3)
    ref = np.mean([wasserstein_distance(x @ t, y @ t) for t in theta])
    assert sliced_wasserstein(x, y, projections=40, p=1, seed=3, block=7) == pytest.approx(ref, rel=1e-10)


def test_p2_equal_and_unequal_sizes_match_restatements():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((30, 5)) * 2
    theta = random_directions(5, 25, seed=0)
    sq = [np.mean((np.sort(x @ t) - np.sort(y @ t)) ** 2) for t in theta]
    assert sliced_wasserstein(x, y, projections=25, seed=0) == pytest.approx(np.sqrt(np.mean(sq)), rel=1e-12)
    # unequal sizes: repeat each row of a 10-row set 3 times = the same empirical measure
    z = rng.standard_normal((10, 5))
    a = sliced_wasserstein(x, z, projections=25, seed=0)
    b = sliced_wasserstein(x, np.repeat(z, 3, axis=0), projections=25, seed=0)
    assert a == pytest.approx(b, rel=1e-12)


def test_identical_sets_are_zero_and_seed_matters():
    x = np.random.default_rng(2).standard_normal((20, 4))
    assert sliced_wasserstein(x, x) == 0.0
    y = x + 1
    assert sliced_wasserstein(x, y, seed=0) != sliced_wasserstein(x, y, seed=1)
