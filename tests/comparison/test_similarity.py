import numpy as np
import pytest
from PIL import Image

from genmetrics.comparison import pair_similarity, summarize
from genmetrics.errors import UserError
from genmetrics.metrics.functional.image_similarity import psnr, ssim
from genmetrics.sources.items import items_from


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_matched_by_id_values_equal_functional(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for name in ("s/b", "s/a", "t/c"):  # created in a different order on each side
        arrays[name] = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    for name in ("t/c", "s/a", "s/b"):
        _save(tmp_path / "A" / f"{name}.png", arrays[name])
    noisy = {
        k: np.clip(v.astype(int) + rng.integers(-9, 10, v.shape), 0, 255).astype(np.uint8)
        for k, v in arrays.items()
    }
    for name in ("s/b", "t/c", "s/a"):
        _save(tmp_path / "B" / f"{name}.png", noisy[name])
    res = pair_similarity(items_from(tmp_path / "A"), items_from(tmp_path / "B"), "psnr,ssim")
    assert [r["id"] for r in res.rows] == ["s/a", "s/b", "t/c"]
    for r in res.rows:
        assert r["psnr"] == pytest.approx(psnr(arrays[r["id"]], noisy[r["id"]]), abs=1e-12)
        assert r["ssim"] == pytest.approx(ssim(arrays[r["id"]], noisy[r["id"]]), abs=1e-12)
    s = res.summary()["ssim"]
    vals = [r["ssim"] for r in res.rows]
    assert s["value"] == pytest.approx(np.mean(vals)) and s["std"] == pytest.approx(
        np.std(vals, ddof=1)
    )
    assert s["n"] == 3


def test_errors_name_the_files(tmp_path):
    _save(tmp_path / "A" / "x.png", np.zeros((20, 20, 3), np.uint8))
    _save(tmp_path / "B" / "x.png", np.zeros((20, 22, 3), np.uint8))
    with pytest.raises(UserError, match=r"A/x.png is 20x20 but .*B/x.png is 22x20"):
        pair_similarity(items_from(tmp_path / "A"), items_from(tmp_path / "B"), "psnr")
    _save(tmp_path / "C" / "x.png", np.ones((20, 20, 3), np.uint8))
    with pytest.raises(UserError, match=r"x.png vs .*x.png: MS-SSIM .* at least 176x176"):
        pair_similarity(items_from(tmp_path / "A"), items_from(tmp_path / "C"), "ms_ssim")
    _save(tmp_path / "C" / "y.png", np.ones((20, 20, 3), np.uint8))
    with pytest.raises(UserError, match=r"1 image\(s\) only in B \(first: y\)"):
        pair_similarity(
            items_from(tmp_path / "A"), items_from(tmp_path / "C"), "psnr", names=("A", "B")
        )
    res = pair_similarity(
        items_from(tmp_path / "A"), items_from(tmp_path / "C"), "psnr", allow_missing=True
    )
    assert res.only_b == ["y"] and len(res.rows) == 1
    with pytest.raises(UserError, match="unknown similarity"):
        pair_similarity(items_from(tmp_path / "A"), items_from(tmp_path / "C"), "vif")


def test_summarize_with_identical_pairs():
    assert summarize([float("inf"), 30.0]) == {
        "value": float("inf"), "std": None, "ci95": None, "n": 2
    }
    assert summarize([1.0])["std"] is None and summarize([1.0])["ci95"] is None


def test_summary_ci_worst_pairs_and_direction(tmp_path):
    """Bootstrap CI of the mean (seeded), worst pairs in each metric's bad direction."""
    from genmetrics.comparison.similarity import PairSimilarity
    from genmetrics.stats import bootstrap_ci

    rows = [{"id": f"s/{i}", "a": "", "b": "", "ssim": 1.0 - 0.01 * i, "lpips": 0.02 * i}
            for i in range(8)]
    sim = PairSimilarity(["ssim", "lpips"], rows)
    s = sim.summary(seed=3)
    vals = [r["ssim"] for r in rows]
    assert s["ssim"]["ci95"] == list(bootstrap_ci(vals, seed=3))
    assert s["ssim"]["ci95"][0] < s["ssim"]["value"] < s["ssim"]["ci95"][1]
    assert s["ssim"]["higher_is_better"] and not s["lpips"]["higher_is_better"]
    assert [w["id"] for w in s["ssim"]["worst"]] == ["s/7", "s/6", "s/5", "s/4", "s/3"]
    assert [w["id"] for w in s["lpips"]["worst"]][:2] == ["s/7", "s/6"]
    assert s["lpips"]["worst"][0]["value"] == pytest.approx(0.14)
    sub = sim.summary(["s/0", "s/1"])
    assert sub["lpips"]["n"] == 2 and [w["id"] for w in sub["lpips"]["worst"]] == ["s/1", "s/0"]
