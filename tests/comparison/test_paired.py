import random

import numpy as np
import pytest
from scipy import stats

from genmetrics.comparison import AVERAGE, paired_comparison
from genmetrics.errors import UserError


def _rows(values, styles=("x", "y"), samples=1):
    rows = []
    it = iter(values)
    for s in styles:
        for i in range(len(values) // (len(styles) * samples)):
            for k in range(samples):
                rid = f"{s}/{i:05d}" + (f"_k{k}" if k else "")
                rows.append({"id": rid, "style": s, "prompt_id": f"{s}/{i:05d}", "m": next(it)})
    return rows


def test_paired_stats_equal_scipy_and_ignore_listing_order():
    rng = np.random.default_rng(1)
    base = rng.normal(30, 1, 48)
    var = base + rng.normal(0.3, 0.5, 48)
    b_rows, v_rows = _rows(base), _rows(var)
    random.Random(0).shuffle(v_rows)
    res = paired_comparison(b_rows, v_rows, "m", margin=0.05, styles=["x", "y"])
    d_all = var - base
    overall = res.by_style[AVERAGE]
    assert overall.n == 48 and overall.mean_difference == pytest.approx(d_all.mean())
    assert overall.p_value_ttest == pytest.approx(stats.ttest_rel(var, base).pvalue, rel=1e-10)
    assert overall.p_value_wilcoxon == pytest.approx(stats.wilcoxon(d_all).pvalue, rel=1e-10)
    assert overall.verdict == "better"
    x = res.by_style["x"]
    assert x.n == 24
    assert x.p_value_ttest == pytest.approx(stats.ttest_rel(var[:24], base[:24]).pvalue, rel=1e-10)


def test_samples_are_averaged_per_prompt_and_lower_is_better():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, 40)
    var = base - 1.0 + rng.normal(0, 0.1, 40)
    res = paired_comparison(
        _rows(base, samples=2),
        _rows(var, samples=2),
        "m",
        higher_is_better=False,
        styles=["x", "y"],
    )
    assert res.n_pairs == 40 and res.overall.n == 20
    b_prompt, v_prompt = base.reshape(20, 2).mean(1), var.reshape(20, 2).mean(1)
    assert res.overall.p_value_ttest == pytest.approx(
        stats.ttest_rel(v_prompt, b_prompt).pvalue, rel=1e-10
    )
    assert res.overall.mean_difference == pytest.approx((v_prompt - b_prompt).mean())
    assert res.overall.verdict == "better"  # lower is better


def test_identical_is_equivalent_and_one_sided_keys():
    vals = np.arange(20, dtype=float)
    res = paired_comparison(_rows(vals), _rows(vals), "m", margin=0.1)
    assert all(r.verdict == "equivalent" for r in res.by_style.values())
    short = _rows(vals)[:-3]
    with pytest.raises(UserError, match=r"3 image\(s\) only in baseline \(first: y/00007"):
        paired_comparison(_rows(vals), short, "m")
    res = paired_comparison(_rows(vals), short, "m", allow_missing=True)
    assert res.only_baseline == ["y/00007", "y/00008", "y/00009"] and res.n_pairs == 17


def test_shared_backbones_get_a_resolved_device(monkeypatch):
    """benchmark/compare build their backbones once: --device auto must reach them as a real
    device (torch.device("auto") is an error)."""
    from genmetrics.comparison.scoring import prepare_backbones
    from tests.fakes import PixelBackbone, patch_backbones

    seen = []
    patch_backbones(monkeypatch, lambda name, opts: seen.append(opts.device) or PixelBackbone())
    prepare_backbones(["fid"], None, True, {"device": "auto", "protocol": "clean"})
    assert seen and (seen[0] in ("cpu", "mps") or seen[0].startswith("cuda"))
