"""HPS v2 chunk protocol against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.stats.chunks import chunked_mean_std


def test_hand_computed_equal_chunks():
    # chunks [1, 3] [2, 2] [5, 7] [0, 4] -> means 2, 2, 6, 2 -> mean 3, pop. std sqrt(12 / 4)
    mean, std = chunked_mean_std([1, 3, 2, 2, 5, 7, 0, 4], n_chunks=4)
    assert mean == pytest.approx(3.0, abs=1e-12)
    assert std == pytest.approx(math.sqrt(3.0), abs=1e-12)


def test_hpsv2_800_scores_is_10_chunks_of_80():
    scores = np.random.default_rng(0).normal(0.27, 0.02, 800)
    result = chunked_mean_std(scores)
    means = scores.reshape(10, 80).mean(axis=1)
    assert result.mean == pytest.approx(means.mean(), abs=1e-15)
    assert result.std == pytest.approx(np.std(means, ddof=0), abs=1e-15)
    # arithmetic ramp 1..20 in 10 chunks: means 1.5, 3.5, ..., 19.5
    ramp = chunked_mean_std(np.arange(1, 21))
    assert ramp.mean == pytest.approx(10.5)
    assert ramp.std == pytest.approx(2 * math.sqrt(99 / 12))


def test_not_divisible_uses_array_split():
    # 7 scores in 3 chunks: [1, 2, 3] [4, 5] [6, 7] -> means 2, 4.5, 6.5
    mean, std = chunked_mean_std([1, 2, 3, 4, 5, 6, 7], n_chunks=3)
    assert mean == pytest.approx(13 / 3)
    assert std == pytest.approx(math.sqrt(61 / 18))


def test_too_few_scores():
    with pytest.raises(UserError, match="at least 10 scores"):
        chunked_mean_std(np.ones(9))
    with pytest.raises(UserError, match="NaN"):
        chunked_mean_std([1.0] * 9 + [float("nan")])
