"""Paired variant-vs-baseline comparison: scipy parity, CI sanity, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from genmetrics.errors import UserError
from genmetrics.stats.bootstrap import bootstrap_ci
from genmetrics.stats.paired import paired_difference


def _pair(shift: float, noise: float, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = rng.normal(0.5, 0.1, n)
    return base, base + shift + rng.normal(0.0, noise, n)


def test_pvalues_and_ci_match_scipy_and_bootstrap():
    base, var = _pair(0.02, 0.05)
    r = paired_difference(base, var, seed=11)
    assert r.p_value_ttest == stats.ttest_rel(var, base).pvalue
    assert r.p_value_wilcoxon == stats.wilcoxon(var - base).pvalue
    assert (r.ci_low, r.ci_high) == bootstrap_ci(var - base, seed=11)
    assert r.mean_difference == pytest.approx(var.mean() - base.mean())
    assert r.n == 60


def test_ci_contains_true_mean_difference():
    base, var = _pair(0.3, 0.2, n=200, seed=3)
    r = paired_difference(base, var)
    assert r.ci_low < 0.3 < r.ci_high
    assert r.verdict == "better"
    covered = 0
    for seed in range(40):
        b, v = _pair(0.3, 0.2, n=50, seed=100 + seed)
        res = paired_difference(b, v, n_resamples=500, seed=seed)
        covered += res.ci_low <= 0.3 <= res.ci_high
    assert covered >= 34  # nominal 95% -> 38 of 40 expected


def test_verdicts():
    base, var = _pair(0.3, 0.2)
    assert paired_difference(base, var).verdict == "better"
    assert paired_difference(base, var, higher_is_better=False).verdict == "worse"
    assert paired_difference(var, base).verdict == "worse"
    assert paired_difference(var, base, higher_is_better=False).verdict == "better"
    tiny_base, tiny_var = _pair(0.0, 0.001)
    assert paired_difference(tiny_base, tiny_var, margin=0.01).verdict == "equivalent"
    assert paired_difference(tiny_base, tiny_var, margin=0.0).verdict == "inconclusive"
    # a detected but small gain is "better", not "equivalent", when the CI leaves the margin
    small_base, small_var = _pair(0.012, 0.002)
    r = paired_difference(small_base, small_var, margin=0.0125)
    assert r.ci_low > 0 and r.ci_high > 0.0125
    assert r.verdict == "better"


def test_all_zero_differences():
    base = np.linspace(0, 1, 12)
    r = paired_difference(base, base.copy())
    assert r.verdict == "equivalent"
    assert r.p_value_wilcoxon is None
    assert r.p_value_ttest == 1.0  # no difference at all


def test_wilcoxon_needs_ten_items():
    base, var = _pair(0.1, 0.05, n=9)
    r = paired_difference(base, var)
    assert r.p_value_wilcoxon is None
    assert r.p_value_ttest == stats.ttest_rel(var, base).pvalue


def test_errors():
    with pytest.raises(UserError, match="baseline has 3 scores, variant has 4"):
        paired_difference([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(UserError, match="at least 2"):
        paired_difference([1.0], [2.0])
    with pytest.raises(UserError, match="margin"):
        paired_difference([1, 2, 3], [1, 2, 4], margin=-0.1)
