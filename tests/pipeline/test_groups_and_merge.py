"""Shard merging and group slicing give what one pass over each set gives."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics import evaluate
from genmetrics.features.extract import ExtractedFeatures
from genmetrics.features.gaussian import GaussianStats
from tests.fakes import PixelBackbone, write_images


def _features(rows: np.ndarray, ids: list[str], gaussian: bool) -> ExtractedFeatures:
    feats = ExtractedFeatures(ids=ids, locations=ids, hashes=[f"h{i}" for i in ids],
                              forwards={"b": len(ids)}, cache_hits={"b": 0})
    feats.arrays[("b", "x")] = rows
    if gaussian:
        feats.gaussians[("b", "x")] = GaussianStats().update(rows)
    return feats


def test_merge_of_shards_equals_one_pass():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((23, 5)) * 10 + 100
    ids = [f"{i:02d}" for i in range(23)]
    whole = _features(rows, ids, gaussian=True)
    cuts = [0, 8, 9, 23]
    parts = [_features(rows[a:b], ids[a:b], gaussian=True) for a, b in zip(cuts, cuts[1:], strict=False)]
    merged = ExtractedFeatures.merge(parts)
    assert merged.ids == ids and merged.forwards == {"b": 23}
    assert np.array_equal(merged.array("b", "x"), rows)
    g, m = whole.gaussian("b", "x"), merged.gaussian("b", "x")
    assert np.allclose(m.mean, g.mean, rtol=1e-13) and np.allclose(m.cov, g.cov, rtol=1e-12)
    with pytest.raises(ValueError, match="overlap"):
        ExtractedFeatures.merge([parts[0], parts[0]])


def test_subset_takes_rows_in_order_and_refuses_streamed_statistics():
    rows = np.arange(12.0).reshape(6, 2)
    ids = list("abcdef")
    sub = _features(rows, ids, gaussian=False).subset(["e", "b"])
    assert sub.ids == ["e", "b"] and np.array_equal(sub.array("b", "x"), rows[[4, 1]])
    with pytest.raises(ValueError, match="cannot be sliced"):
        _features(rows, ids, gaussian=True).subset(["a"])
    with pytest.raises(KeyError):
        _features(rows, ids, gaussian=False).subset(["z"])


def test_group_values_equal_evaluating_each_group(tmp_path):
    write_images(tmp_path / "gen" / "cats", 72, seed=1)
    write_images(tmp_path / "gen" / "dogs", 68, seed=2)
    write_images(tmp_path / "real", 80, seed=3)
    bb = PixelBackbone()
    kwargs = dict(backbones={"inception": bb}, kid_subset_size=4, kid_subsets=5, is_splits=2)
    names = ["fid", "kid", "is", "precision"]
    both = evaluate(tmp_path / "gen", tmp_path / "real", names, cache=False,
                    groups=lambda image_id, record: image_id.split("/")[0], group_metrics=names,
                    **kwargs)
    assert set(both.groups) == {"cats", "dogs"}
    # the float32 network sees other batches in the two runs (cats and dogs mixed), which
    # moves its outputs in the last bits: hence 1e-6, not bit-exact
    for group in ("cats", "dogs"):
        alone = evaluate(tmp_path / "gen" / group, tmp_path / "real", names, cache=False, **kwargs)
        for name in names:
            assert both.groups[group][name].value == pytest.approx(alone[name], rel=1e-6, abs=1e-12), name
