"""Distribution metrics on any feature space: --features wiring, presets, and the numbers on
DINOv2/CLIP-dimension features against independent restatements (scipy sqrtm FD as dgm-eval /
torch-fidelity compute it, a loop KD on the same seeded draws, brute-force PRDC, the official
CMMD estimator), plus sFID's spatial slice against the ADM evaluator's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from scipy.spatial.distance import cdist

from genmetrics import catalog
from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures, FeatureRequest
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.distribution import FEATURE_SPACES
from genmetrics.metrics.options import check_options, default_options
from genmetrics.metrics.registry import MetricContext, metric_specs

DINO = ("dinov2-vit-l14", "cls")
CLIP = ("clip-vit-l-14", "embed")


@pytest.fixture(scope="module")
def specs():
    catalog.load()
    return metric_specs()


def _ctx(gen: dict, ref: dict, requested=(), **options) -> MetricContext:
    def feats(arrays):
        f = ExtractedFeatures(ids=[str(i) for i in range(len(next(iter(arrays.values()))))])
        for space, x in arrays.items():
            f.arrays[space] = x
            f.gaussians[space] = GaussianStats().update(x)
        return f

    return MetricContext(feats(gen), feats(ref), {**default_options(), "seed": 0, **options}, requested=requested)


def _fd_scipy(x, y):
    """dgm-eval / torch-fidelity: np.cov, scipy sqrtm, real part."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_feature_option_picks_the_requests(specs):
    opts = {**default_options(), "seed": 0, "features": "dinov2-vit-l14"}
    assert specs["fd"].generated(opts) == (FeatureRequest(*DINO, "gaussian"),)
    assert specs["kd"].reference(opts) == (FeatureRequest(*DINO),)
    assert specs["precision"].generated(opts) == (FeatureRequest(*DINO),)
    assert specs["fid"].generated(opts) == (FeatureRequest("inception", "pool3", "gaussian"),)
    assert specs["fd_dinov2"].generated(default_options()) == (FeatureRequest(*DINO, "gaussian"),)
    assert specs["fd_clip"].generated(default_options()) == (FeatureRequest(*CLIP, "gaussian"),)
    assert specs["kd_dinov2"].generated(default_options()) == (FeatureRequest(*DINO),)
    assert specs["sfid"].generated(default_options()) == (FeatureRequest("inception", "spatial", "gaussian"),)
    assert specs["cmmd"].generated(default_options())[0].backbone == "clip-vit-l-14-336-cmmd"
    assert specs["fd"].generated(default_options()) == specs["fid"].generated(default_options())
    assert set(FEATURE_SPACES) >= {"inception", "dinov2-vit-g14", "clip-vit-b-32", "clip-vit-l-14-336"}
    assert check_options({"features": "clip-vit-b-16"})["features"] == "clip-vit-b-16"
    with pytest.raises(UserError, match="--features must be one of"):
        check_options({"features": "vgg"})


def test_fd_on_clip_and_dinov2_dimensions_matches_scipy(specs):
    rng = np.random.default_rng(0)
    for space, d, n in ((CLIP, 768, 900), (DINO, 1024, 1150)):
        x = rng.standard_normal((n, d)) * 0.5 + 0.1
        y = rng.standard_normal((n + 30, d)) * 0.55
        name = "fd_clip" if space == CLIP else "fd_dinov2"
        v = specs[name].compute(_ctx({space: x}, {space: y}))
        assert v.value == pytest.approx(_fd_scipy(x, y), rel=1e-6)
        assert v.extra["features"] == {"backbone": space[0], "output": space[1]}
    fd = specs["fd"].compute(_ctx({DINO: x}, {DINO: y}, features="dinov2-vit-l14"))
    assert fd.value == pytest.approx(_fd_scipy(x, y), rel=1e-6)


def test_kd_on_dinov2_matches_a_loop_on_the_same_draws(specs):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((60, 1024)), rng.standard_normal((50, 1024)) + 0.05
    v = specs["kd_dinov2"].compute(_ctx({DINO: x}, {DINO: y}, kid_subsets=7, kid_subset_size=40))
    draw = np.random.default_rng(0)
    scores = []
    for _ in range(7):
        a, b = x[draw.permutation(60)[:40]], y[draw.permutation(50)[:40]]
        kxx, kyy, kxy = ((a @ a.T / 1024 + 1) ** 3, (b @ b.T / 1024 + 1) ** 3, (a @ b.T / 1024 + 1) ** 3)
        m = 40
        scores.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.sum() / m**2)
    assert v.value == pytest.approx(np.mean(scores), rel=1e-6)
    assert v.std == pytest.approx(np.std(scores), rel=1e-6)


def test_prdc_on_clip_features_matches_brute_force(specs):
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((120, 768)), rng.standard_normal((100, 768)) * 1.1
    ctx = _ctx({CLIP: fake}, {CLIP: real}, requested=("precision", "recall", "density", "coverage"),
               features="clip-vit-l-14")
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    np.fill_diagonal(d_rr, np.inf)
    np.fill_diagonal(d_ff, np.inf)
    r3, r5, f3 = (np.sort(d_rr, 1)[:, 2], np.sort(d_rr, 1)[:, 4], np.sort(d_ff, 1)[:, 2])
    expected = {
        "precision": (d_fr <= r3[None]).any(1).mean(),
        "recall": (d_fr <= f3[:, None]).any(0).mean(),
        "density": (d_fr < r5[None]).sum() / (5 * len(fake)),
        "coverage": (d_fr.min(0) < r5).mean(),
    }
    for name, value in expected.items():
        got = specs[name].compute(ctx)
        assert got.value == pytest.approx(value, rel=1e-6, abs=1e-12), name
        assert got.extra["features"]["backbone"] == "clip-vit-l-14"


def test_cmmd_wiring_matches_the_official_estimator(specs):
    rng = np.random.default_rng(3)
    space = ("clip-vit-l-14-336-cmmd", "embed")
    x, y = rng.standard_normal((30, 768)), rng.standard_normal((25, 768)) + 0.02
    v = specs["cmmd"].compute(_ctx({space: x}, {space: y}))
    a, b = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    g = 1 / 200

    def k(p, q):
        return np.exp(-g * (-2 * p @ q.T + (p * p).sum(1)[:, None] + (q * q).sum(1)[None])).mean()

    assert v.value == pytest.approx(1000 * (k(b, b) + k(a, a) - 2 * k(b, a)), rel=1e-9)
    assert v.extra["sigma"] == 10 and v.extra["scale"] == 1000


def test_fd_infinity_and_swd_follow_features(specs):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((60, 8)), rng.standard_normal((80, 8)) + 0.3
    space = ("dinov2-vit-s14", "cls")
    ctx = _ctx({space: x}, {space: y}, features="dinov2-vit-s14", fd_infinity_points=5)
    v = specs["fd_infinity"].compute(ctx)
    assert len(v.extra["sizes"]) == 5 and np.isfinite(v.value)
    s = specs["swd"].compute(ctx)
    assert s.value > 0 and s.extra["features"]["backbone"] == "dinov2-vit-s14"


def test_sfid_spatial_slice_equals_adm_evaluator_restatement():
    """ADM: spatial = mixed_6/conv (NHWC) [..., :7], reshape (N, -1); our tap is the same rows,
    and one forward gives pool3 and spatial together."""
    from genmetrics.backbones.inception.network import FIDInceptionV3

    torch.manual_seed(0)
    net = FIDInceptionV3(has_fc=False)
    for p in net.parameters():
        p.data.normal_(0, 0.05)
    x = torch.rand(2, 3, 299, 299) * 255
    grabbed = {}
    net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: grabbed.setdefault("conv", o))
    out = net(x, taps=("pool3", "spatial"))
    nhwc = grabbed["conv"].permute(0, 2, 3, 1).numpy()  # TF layout
    ref = nhwc[..., :7].reshape(2, -1)
    assert out["spatial"].shape == (2, 2023)
    np.testing.assert_array_equal(out["spatial"].numpy(), ref)
    np.testing.assert_allclose(out["pool3"].numpy(), net(x, taps=("pool3",))["pool3"].numpy(), rtol=0, atol=1e-6)
