"""Reward metrics: PickScore math, softmax preference, ImageReward metric, compare's summary."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from genmetrics.comparison.options import static_per_image
from genmetrics.comparison.preference import preference_summary
from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures
from genmetrics.metrics import reward
from genmetrics.metrics.registry import MetricContext, get_metric


def test_pickscore_is_scaled_cosine() -> None:
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    got = reward.pickscore(x.astype(np.float32), t.astype(np.float32), 100.0)
    for i in range(5):  # plain restatement: 100 * x·t / (|x||t|)
        ref = 100.0 * float(np.dot(x[i], t[i]) / (np.linalg.norm(x[i]) * np.linalg.norm(t[i])))
        assert got[i] == pytest.approx(ref, abs=1e-4)
    assert got.dtype == np.float64
    with pytest.raises(ValueError):
        reward.pickscore(x, t[:3], 1.0)


def test_preference_is_two_way_softmax() -> None:
    b = np.array([20.0, 21.5, 0.0, -800.0, 800.0])
    v = np.array([21.0, 21.5, 900.0, 800.0, -800.0])
    p = reward.preference_probability(b, v)
    for i in range(len(b)):
        s = np.array([b[i], v[i]])
        ref = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        assert p[i] == pytest.approx(ref[1], abs=1e-12)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(reward.softmax_preferences([1.0, 2.0, 3.0]),
                               np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def _ctx(gen: ExtractedFeatures, prompts, texts=None, truncated=0):
    services = SimpleNamespace(
        prompts=None if prompts is None else [SimpleNamespace(prompt=p) for p in prompts],
        encode_texts=lambda name, t: texts,
        count_truncated=lambda name, t: truncated,
    )
    return MetricContext(gen, None, {"seed": 0}, services)


def test_metric_values() -> None:
    rng = np.random.default_rng(1)
    img, txt = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    gen = ExtractedFeatures(ids=list("abcd"), arrays={
        ("pickscore", "embed"): img.astype(np.float32),
        ("pickscore", "logit_scale"): np.full((4, 1), 50.0, np.float32),
        ("imagereward", "reward"): np.array([[0.5], [-1.0], [2.0], [0.25]], np.float32),
    })
    value = get_metric("pickscore").compute(_ctx(gen, list("wxyz"), txt.astype(np.float32), truncated=1))
    per = value.per_image["pickscore"]
    ref = 50.0 * np.sum(img * txt, 1) / np.linalg.norm(img, axis=1) / np.linalg.norm(txt, axis=1)
    np.testing.assert_allclose(per, ref, atol=1e-4)
    assert value.value == pytest.approx(per.mean()) and value.std == pytest.approx(per.std(ddof=1))
    assert value.extra["prompts_truncated"] == 1 and value.extra["logit_scale_exp"] == 50.0
    ir = get_metric("imagereward").compute(_ctx(gen, list("wxyz"), truncated=2))
    np.testing.assert_allclose(ir.per_image["imagereward"], [0.5, -1.0, 2.0, 0.25])
    assert ir.value == pytest.approx(0.4375) and ir.extra["prompts_truncated"] == 2
    with pytest.raises(UserError, match="needs a prompt per image"):
        get_metric("imagereward").compute(_ctx(gen, None))


def test_hpsv3_metric_value() -> None:
    mu = np.array([[3.5], [11.0], [-1.25]], np.float32)
    sigma = np.array([[0.5], [1.0], [1.5]], np.float32)
    gen = ExtractedFeatures(ids=list("abc"), arrays={("hpsv3", "reward"): mu, ("hpsv3", "sigma"): sigma})
    value = get_metric("hpsv3").compute(_ctx(gen, list("xyz")))
    np.testing.assert_allclose(value.per_image["hpsv3"], [3.5, 11.0, -1.25])
    assert value.value == pytest.approx((3.5 + 11.0 - 1.25) / 3, abs=1e-12)
    assert value.extra["mean_sigma"] == pytest.approx(1.0)
    with pytest.raises(UserError, match="needs a prompt per image"):
        get_metric("hpsv3").compute(_ctx(gen, None))


def test_specs_and_compare_kind() -> None:
    for name in ("pickscore", "imagereward", "hpsv3"):
        spec = get_metric(name)
        assert spec.needs_prompts and spec.higher_is_better
        assert static_per_image(name) is True
    assert reward.PREFERENCE_METRICS == {"pickscore"}


def test_preference_summary_per_style() -> None:
    base = [{"id": f"{s}/{i:05d}", "pickscore": 20.0 + i} for s in ("anime", "photo") for i in range(3)]
    var = [{"id": r["id"], "pickscore": r["pickscore"] + (1.0 if r["id"].startswith("anime") else -1.0)}
           for r in base]
    out = preference_summary(base, var, "pickscore", ["anime", "photo"])
    sig = 1 / (1 + np.exp(-1.0))
    assert out["anime"]["p_variant"] == pytest.approx(sig)
    assert out["photo"]["p_variant"] == pytest.approx(1 - sig)
    assert out["Average"]["p_variant"] == pytest.approx(0.5) and out["Average"]["n"] == 6
    # two samples of one prompt are averaged first
    base2 = [{"id": "a/00000", "pickscore": 0.0}, {"id": "a/00000_k1", "pickscore": 0.0},
             {"id": "a/00001", "pickscore": 0.0}]
    var2 = [{"id": "a/00000", "pickscore": 2.0}, {"id": "a/00000_k1", "pickscore": -2.0},
            {"id": "a/00001", "pickscore": 0.0}]
    out2 = preference_summary(base2, var2, "pickscore", ["a"])
    assert out2["a"]["n"] == 2 and out2["a"]["p_variant"] == pytest.approx(0.5)
