import json

import numpy as np
import pytest
from scipy import linalg

from genmetrics import evaluate
from genmetrics.errors import UserError
from genmetrics.pipeline.reference import compute_reference_stats
from tests.fakes import PixelBackbone, write_images

ALL = "fid,kid,is,precision,recall,density,coverage"


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 24, seed=1)
    write_images(tmp_path / "real", 30, seed=2, size=(20, 28))
    return tmp_path / "gen", tmp_path / "real"


def _fid_reference(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_all_metrics_one_pass(sets, tmp_path):
    gen, real = sets
    bb = PixelBackbone()
    res = evaluate(gen, real, ALL, backbones={"inception": bb}, kid_subset_size=10, kid_subsets=20)
    assert bb.images == 54  # each image through the backbone once, whatever the metrics
    assert set(res.metrics) == set(ALL.split(","))
    assert res.metrics["kid"].std is not None and res.metrics["is"].std is not None
    gen_feats = np.stack([bb.preprocess(_load(p)) for p in sorted(gen.iterdir())])
    real_feats = np.stack([bb.preprocess(_load(p)) for p in sorted(real.iterdir())])
    # 64-d features from 24/30 images: full rank is not guaranteed, so compare loosely
    assert res["fid"] == pytest.approx(_fid_reference(gen_feats, real_feats), rel=1e-4, abs=1e-4)
    assert res.counts["generated"] == 24 and res.counts["reference"] == 30
    m = res.manifest
    assert m["protocol"] == "clean" and m["backbones"]["inception"]["key"] == "fake-pixels/v1"
    assert "numpy" in m["libraries"] and m["seed"] == 0
    doc = json.loads(res.to_json())
    assert all("value" in v for v in doc["metrics"].values())
    paths = res.save(tmp_path / "out")
    assert paths["summary"].exists() and paths["per_image_parquet"].exists()
    import pyarrow.parquet as pq

    table = pq.read_table(paths["per_image_parquet"])
    assert table.num_rows == 24 and "precision.in_real_manifold" in table.column_names


def _load(p):
    from PIL import Image

    return np.asarray(Image.open(p).convert("RGB"))


def test_seeded_results_repeat(sets):
    gen, real = sets
    a = evaluate(gen, real, "kid,is", backbones={"inception": PixelBackbone()}, kid_subset_size=10, seed=3)
    b = evaluate(gen, real, "kid,is", backbones={"inception": PixelBackbone()}, kid_subset_size=10, seed=3)
    assert a["kid"] == b["kid"] and a["is"] == b["is"]


def test_user_errors(sets, tmp_path):
    gen, real = sets
    bbs = {"inception": PixelBackbone()}
    with pytest.raises(UserError, match="reference"):
        evaluate(gen, None, "fid", backbones=bbs)
    with pytest.raises(UserError, match="unknown metric"):
        evaluate(gen, real, "fid,blurriness", backbones=bbs)
    write_images(tmp_path / "one", 1)
    with pytest.raises(UserError, match="at least 2"):
        evaluate(tmp_path / "one", real, "fid", backbones=bbs)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        evaluate(tmp_path / "empty", real, "fid", backbones=bbs)


def test_reference_stats_npz_roundtrip(sets, tmp_path):
    gen, real = sets
    bb = PixelBackbone()
    path, n = compute_reference_stats(real, tmp_path / "ref.npz", backbone=bb)
    assert n == 30
    with np.load(path) as data:
        assert data["mu"].shape == (64,) and data["sigma"].shape == (64, 64)
    from_npz = evaluate(gen, path, "fid", backbones={"inception": bb})
    from_images = evaluate(gen, real, "fid", backbones={"inception": bb})
    assert from_npz["fid"] == pytest.approx(from_images["fid"], rel=1e-9)
    with pytest.raises(UserError, match="only serves Fréchet distances"):
        evaluate(gen, path, "kid", backbones={"inception": bb})


def test_in_memory_sources():
    rng = np.random.default_rng(0)
    gen = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(12)]
    real = rng.random((12, 3, 16, 16), dtype=np.float32)
    import torch

    res = evaluate(gen, torch.from_numpy(real), "fid,kid", backbones={"inception": PixelBackbone()},
                   kid_subset_size=6, cache=False)
    assert np.isfinite(res["fid"]) and res.per_image[0]["id"] == "00000"


def test_fid_is_reused_from_the_cache_by_content(sets, tmp_path, monkeypatch):
    gen, real = sets
    from genmetrics.metrics import distribution

    calls = []
    real_fn = distribution.frechet_distance_from_stats
    monkeypatch.setattr(distribution, "frechet_distance_from_stats",
                        lambda *a, **k: (calls.append(1), real_fn(*a, **k))[1])
    first = evaluate(gen, real, "fid", backbones={"inception": PixelBackbone()}, cache_dir=tmp_path)
    second = evaluate(gen, real, "fid", backbones={"inception": PixelBackbone()}, cache_dir=tmp_path)
    assert len(calls) == 1 and second["fid"] == first["fid"]
    # N < D: the warning belongs to the result, so the cached re-run reports it too
    assert first.warnings and second.warnings == first.warnings
    assert "N < D" in second.to_dict()["metrics"]["fid"]["warnings"][0]
    write_images(gen, 1, seed=9, prefix="extra")  # other statistics: computed afresh
    evaluate(gen, real, "fid", backbones={"inception": PixelBackbone()}, cache_dir=tmp_path)
    assert len(calls) == 2
