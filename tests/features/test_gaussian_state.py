"""GaussianStats.state()/from_state(): the exact accumulator, for checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.features.gaussian import GaussianStats


def test_state_round_trip_is_bit_exact_and_keeps_accumulating():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 6)) + 3, rng.standard_normal((20, 6))
    stats = GaussianStats().update(a)
    back = GaussianStats.from_state({k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                     for k, v in stats.state().items()})
    assert np.array_equal(back.mean, stats.mean) and np.array_equal(back.cov, stats.cov)
    stats.update(b)
    back.update(b)
    assert np.array_equal(back.cov, stats.cov) and back.n == 70
    empty = GaussianStats.from_state(GaussianStats().state())
    assert empty.n == 0 and empty.dim is None
    with pytest.raises(UserError, match="without a sample count"):
        GaussianStats.from_mu_sigma(np.zeros(2), np.eye(2)).state()
