"""Inception's 64/192/768 taps as feature spaces (``--features inception-64`` …): their own
backbones and cache keys (pool3's untouched), and FD on them equal to torchmetrics'
``FrechetInceptionDistance(feature=…)`` computation on the same features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from genmetrics import evaluate
from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.inception.taps import TAP_BACKBONES
from genmetrics.backbones.registry import BackboneOptions, backbone_names
from genmetrics.features.cache import FeatureCache, default_cache_path
from genmetrics.features.extract import FeatureRequest, extract_features
from genmetrics.metrics.distribution import FEATURE_SPACES
from genmetrics.pipeline.reference import compute_reference_stats
from genmetrics.sources.items import items_from
from tests.backbones.inception.test_network import random_inception

OPTIONS = BackboneOptions(device="cpu", protocol="clean")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """Random (He-initialised) FID Inception weights without fc, as a converted file."""
    net = random_inception(has_fc=False, seed=3)
    path = tmp_path_factory.mktemp("taps") / "inception-random.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return str(path)


def _images(n: int, seed: int, brightness: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(rng.normal(brightness, 60, (24, 32, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def test_taps_are_feature_spaces_with_their_own_backbones_and_keys(weights):
    assert {"inception-64", "inception-192", "inception-768"} <= set(backbone_names())
    for tap in ("64", "192", "768"):
        assert FEATURE_SPACES[f"inception-{tap}"] == (f"inception-{tap}", tap)
    pool3 = InceptionBackbone(OPTIONS, weights_path=weights)
    assert pool3.outputs == ("pool3", "spatial")  # unchanged: its cache rows are the same
    keys = {pool3.key}
    for tap, cls in TAP_BACKBONES.items():
        bb = cls(OPTIONS, weights_path=weights)
        assert bb.name == f"inception-{tap}" and bb.outputs == (tap,)
        assert bb.output_dims == {tap: int(tap)} and bb.key.startswith(pool3.key)
        assert bb.manifest()["tap"].startswith(tap)
        keys.add(bb.key)
    assert len(keys) == 4


@pytest.mark.usefixtures("one_torch_thread")
def test_fd_on_inception_64_equals_torchmetrics_fid_feature_64(weights, tmp_path):
    fid_mod = pytest.importorskip("torchmetrics.image.fid")
    bb = TAP_BACKBONES["64"](OPTIONS, weights_path=weights)
    gen, real = _images(66, 1, 120.0), _images(70, 2, 100.0)
    cache_dir = tmp_path / "cache"  # every image runs the network once
    ours = evaluate(gen, real, "fd", features="inception-64", backbones={"inception-64": bb},
                    cache_dir=cache_dir)
    assert ours.metrics["fd"].extra["features"]["backbone"] == "inception-64"
    assert not ours.metrics["fd"].warnings  # 66 and 70 images > 64 dims

    def feats(images):
        with FeatureCache(default_cache_path(cache_dir)) as cache:
            out = extract_features(items_from(images), {"inception-64": bb},
                                   [FeatureRequest("inception-64", "64")], cache=cache)
        # float64 in: torchmetrics casts its result to the features' dtype
        return torch.from_numpy(out.array("inception-64", "64").astype(np.float64))

    class Precomputed(torch.nn.Module):
        """torchmetrics' custom feature extractor hook: the images are the features."""

        num_features = 64

        def forward(self, x):
            return x

    metric = fid_mod.FrechetInceptionDistance(feature=Precomputed(), normalize=False)
    metric.update(feats(real), real=True)
    metric.update(feats(gen), real=False)
    expected = float(metric.compute())
    assert ours["fd"] == pytest.approx(expected, rel=1e-8)  # measured 7e-16

    # the same space as a statistics file
    path, n = compute_reference_stats(real, tmp_path / "ref64.npz", features="inception-64",
                                      backbone=bb, cache_dir=cache_dir)
    from_file = evaluate(gen, path, "fd", features="inception-64",
                         backbones={"inception-64": bb}, cache_dir=cache_dir)
    assert n == 70 and from_file["fd"] == pytest.approx(ours["fd"], rel=1e-9)
    assert bb.manifest()["outputs"] == ["64"]
