"""Inception Score: closed-form cases, stability, torchmetrics parity."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.metrics.functional.inception_score import inception_score


def test_uniform_logits_score_one():
    mean, std = inception_score(np.zeros((100, 1008)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_confident_distinct_classes_score_chunk_size():
    # 1000 images, each confidently a different class: every chunk of 100 scores 100.
    logits = np.full((1000, 1000), -50.0)
    logits[np.arange(1000), np.arange(1000)] = 50.0
    mean, std = inception_score(logits, splits=10, seed=3)
    assert mean == pytest.approx(100.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-7)


def test_unshuffled_cyclic_classes_score_number_of_classes():
    labels = np.arange(200) % 10  # each chunk of 20 holds every class twice
    logits = np.where(labels[:, None] == np.arange(10)[None, :], 30.0, 0.0)
    mean, std = inception_score(logits, splits=10, seed=None)
    assert mean == pytest.approx(10.0, rel=1e-9)  # near one-hot: a hair below 10
    assert std == pytest.approx(0.0, abs=1e-9)


def test_extreme_logits_stay_finite_and_float32_matches_float64():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 50)) * 300.0
    mean, std = inception_score(logits, splits=4)
    assert np.isfinite(mean) and np.isfinite(std) and 1.0 <= mean <= 50.0
    small = rng.standard_normal((64, 50)).astype(np.float32)
    assert inception_score(small, splits=4) == inception_score(small.astype(np.float64), splits=4)


def test_seed_changes_split_assignment_only():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((90, 20)) * 3
    assert inception_score(logits, splits=1, seed=0) == inception_score(logits, splits=1, seed=5)
    assert inception_score(logits, splits=3, seed=0) == inception_score(logits, splits=3, seed=0)
    assert inception_score(logits, splits=3, seed=0) != inception_score(logits, splits=3, seed=1)


def test_user_errors():
    with pytest.raises(UserError, match="splits"):
        inception_score(np.zeros((5, 10)), splits=10)
    with pytest.raises(UserError, match="2-D"):
        inception_score(np.zeros(10))


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore`")
def test_parity_with_torchmetrics_inception_score():
    torch = pytest.importorskip("torch")
    is_mod = pytest.importorskip("torchmetrics.image.inception")

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    rng = np.random.default_rng(2)
    logits = rng.standard_normal((300, 100)) * 4.0
    metric = is_mod.InceptionScore(feature=Identity(), splits=10)
    metric.update(torch.from_numpy(logits))
    torch.manual_seed(7)
    ref_mean, ref_std = (float(v) for v in metric.compute())
    torch.manual_seed(7)
    perm = torch.randperm(len(logits)).numpy()  # the shuffle torchmetrics drew
    mean, std = inception_score(logits[perm], splits=10, seed=None, ddof=1)
    assert mean == pytest.approx(ref_mean, rel=1e-10)  # measured ~1e-15 (float64 both)
    assert std == pytest.approx(ref_std, rel=1e-8)  # torchmetrics reports ddof=1
    # The default (ddof=0) spread is the population std of the same split scores.
    _, std0 = inception_score(logits[perm], splits=10, seed=None)
    assert std0 == pytest.approx(ref_std * np.sqrt(9 / 10), rel=1e-8)
