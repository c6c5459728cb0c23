"""The Fréchet metrics' routes and warnings: the exact n x n route when the per-image rows
are kept and a side has no more rows than dims, the D x D route (memoised) otherwise, and the
sFID protocol warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from genmetrics import catalog, evaluate
from genmetrics.features.extract import ExtractedFeatures
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.frechet import (
    frechet_distance,
    frechet_distance_from_features,
)
from genmetrics.metrics.options import default_options
from genmetrics.metrics.registry import MetricContext, metric_specs
from tests.fakes import PixelBackbone, write_images

POOL3 = ("inception", "pool3")


def _feats(x: np.ndarray, rows: bool) -> ExtractedFeatures:
    f = ExtractedFeatures(ids=[str(i) for i in range(len(x))])
    f.gaussians[POOL3] = GaussianStats().update(x)
    if rows:
        f.arrays[POOL3] = x
    return f


class _Memo:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def get_value(self, key):
        return self.values.get(key)

    def put_value(self, key, value):
        self.values[key] = value


class _Services:
    def __init__(self) -> None:
        self.derived, self.backbones = _Memo(), {}


def _fid(x, y, rows: bool, services=None):
    catalog.load()
    ctx = MetricContext(_feats(x, rows), _feats(y, rows), {**default_options(), "seed": 0},
                        services)
    return metric_specs()["fid"].compute(ctx)


def test_rows_route_when_kept_and_n_below_d_else_memoised_dxd():
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 96)), rng.random((70, 96)) + 0.02
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = frechet_distance_from_features(x, y)
        dd = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    services = _Services()
    by_rows = _fid(x, y, rows=True, services=services)
    assert by_rows.value == pytest.approx(exact, rel=1e-12)
    assert not services.derived.values  # cheap: not memoised
    assert len(by_rows.warnings) == 2 and all("N < D" in w for w in by_rows.warnings)
    by_stats = _fid(x, y, rows=False, services=services)
    assert by_stats.value == pytest.approx(dd, rel=1e-12)
    assert by_stats.value == pytest.approx(exact, rel=1e-9)
    assert list(services.derived.values)[0].startswith("fid/v2/")  # the fixed algorithm's key


class _SpatialBackbone(PixelBackbone):
    """Pixel fake with an sFID ``spatial`` output and a resize protocol in its manifest."""

    outputs = ("pool3", "spatial", "logits_unbiased")

    def __init__(self, protocol: str) -> None:
        super().__init__()
        self.protocol = protocol

    def forward(self, batch):
        out = super().forward(batch)
        return {**out, "spatial": out["pool3"][:, :40]}

    def manifest(self):
        return {**super().manifest(), "protocol": self.protocol}


@pytest.mark.parametrize("protocol", ["clean", "pytorch-fid", "tf1"])
def test_sfid_warns_unless_tf1(protocol, tmp_path):
    write_images(tmp_path / "gen", 8, seed=1)
    write_images(tmp_path / "real", 8, seed=2)
    res = evaluate(tmp_path / "gen", tmp_path / "real", "fid,sfid", cache=False,
                   backbones={"inception": _SpatialBackbone(protocol)})
    said = [w for w in res.metrics["sfid"].warnings if "ADM evaluator" in w]
    assert bool(said) == (protocol != "tf1")
    if said:
        assert f"protocol '{protocol}'" in said[0] and "--protocol tf1" in said[0]
        assert any("sfid: sFID under protocol" in w for w in res.warnings)
    assert not [w for w in res.metrics["fid"].warnings if "ADM" in w]


def test_rows_that_did_not_make_the_statistics_are_not_used():
    """An ADM reference batch: its images' rows (for KID) are ours, its statistics the
    evaluator's; FID must use the stored statistics."""
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 96)), rng.random((70, 96))
    stored = GaussianStats().update(y * 1.01 + 0.001)  # not the statistics of these rows
    ref = _feats(y, rows=True)
    ref.gaussians[POOL3] = stored
    catalog.load()
    ctx = MetricContext(_feats(x, True), ref, {**default_options(), "seed": 0}, _Services())
    got = metric_specs()["fid"].compute(ctx).value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = frechet_distance(x.mean(0), np.cov(x, rowvar=False), stored.mean, stored.cov)
        wrong = frechet_distance_from_features(x, y)
    assert got == pytest.approx(expected, rel=1e-9) and abs(got - wrong) > 1e-3 * wrong
