import json

import numpy as np
import pytest
from PIL import Image

from genmetrics.cli.app import main
from genmetrics.metrics.functional.image_similarity import ms_ssim, psnr, ssim


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _run(capsys, *args):
    code = main(["pair", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def photos(real_photos):
    a = real_photos["astronaut"][:192, :200]
    noise = np.random.default_rng(0).integers(-12, 13, a.shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


def test_two_images_json_equals_functional(tmp_path, capsys, photos):
    a, b = photos
    pa, pb = _save(tmp_path / "a.png", a), _save(tmp_path / "other.png", b)
    code, out, err = _run(capsys, pa, pb, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"metrics", "per_image"} and set(doc["metrics"]) == {
        "psnr",
        "ssim",
        "ms_ssim",
    }
    assert doc["metrics"]["psnr"]["value"] == pytest.approx(psnr(a, b), abs=1e-12)
    assert doc["metrics"]["ssim"]["value"] == pytest.approx(ssim(a, b), abs=1e-12)
    assert doc["metrics"]["ms_ssim"]["value"] == pytest.approx(ms_ssim(a, b), abs=1e-12)
    assert doc["metrics"]["ssim"]["n"] == 1 and doc["metrics"]["ssim"]["std"] is None
    assert (
        len(doc["per_image"]) == 1
        and doc["per_image"][0]["ssim"] == doc["metrics"]["ssim"]["value"]
    )
    code, out, _ = _run(capsys, pa, pb)
    assert code == 0 and "ms_ssim" in out


def test_folders_matched_by_path(tmp_path, capsys):
    rng = np.random.default_rng(1)
    arrs = {k: rng.integers(0, 256, (16, 20, 3), dtype=np.uint8) for k in ("x/1", "x/2", "y/1")}
    other = {k: np.clip(v.astype(int) + 7, 0, 255).astype(np.uint8) for k, v in arrs.items()}
    for k in arrs:
        _save(tmp_path / "A" / f"{k}.png", arrs[k])
    for k in reversed(list(arrs)):
        _save(tmp_path / "B" / f"{k}.png", other[k])
    _save(tmp_path / "B" / "z.png", arrs["x/1"])
    code, _, err = _run(capsys, tmp_path / "A", tmp_path / "B", "--metrics", "psnr,ssim")
    assert code == 2 and "only in" in err and "z" in err
    code, out, err = _run(
        capsys,
        tmp_path / "A",
        tmp_path / "B",
        "--metrics",
        "psnr,ssim",
        "--allow-missing",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    vals = [ssim(arrs[k], other[k]) for k in sorted(arrs)]
    assert [r["id"] for r in doc["per_image"]] == sorted(arrs)
    assert doc["metrics"]["ssim"]["value"] == pytest.approx(np.mean(vals), abs=1e-12)
    assert doc["metrics"]["ssim"]["std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-12)
    assert doc["metrics"]["psnr"]["n"] == 3 and doc["only_b"] == ["z"]


def test_user_errors(tmp_path, capsys):
    a = _save(tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8))
    b = _save(tmp_path / "b.png", np.zeros((40, 42, 3), np.uint8))
    code, _, err = _run(capsys, a, b, "--metrics", "psnr")
    assert code == 2 and "a.png is 40x40 but" in err and "b.png is 42x40" in err
    c = _save(tmp_path / "c.png", np.ones((40, 40, 3), np.uint8))
    code, _, err = _run(capsys, a, c)
    assert code == 2 and "176x176" in err and err.count("\n") == 1
    code, out, _ = _run(capsys, a, a, "--metrics", "psnr,ssim", "--format", "json")
    doc = json.loads(out)
    assert (
        code == 0
        and doc["metrics"]["psnr"]["value"] is None
        and doc["metrics"]["psnr"]["value_nonfinite"] == "inf"
        and doc["metrics"]["ssim"]["value"] == 1.0
    )


def test_undefined_ms_ssim_pair_is_reported_excluded_and_counted(tmp_path, capsys):
    """An anti-correlated pair has no MS-SSIM: listed as null with its reason, left out of
    the mean, counted, warned about; the JSON stays valid (no "nan" string, no NaN token)."""
    rng = np.random.default_rng(0)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    for i in range(3):
        img = rng.integers(0, 255, (192, 192, 3), dtype=np.uint8)
        _save(tmp_path / "a" / f"{i}.png", img)
        other = 255 - img if i == 0 else np.clip(img.astype(int) + 4, 0, 255).astype(np.uint8)
        _save(tmp_path / "b" / f"{i}.png", other)
    code, out, err = _run(capsys, tmp_path / "a", tmp_path / "b", "--metrics", "ms_ssim", "--format", "json")
    assert code == 0 and "NaN" not in out and '"value": "nan"' not in out
    doc = json.loads(out)
    summary = doc["metrics"]["ms_ssim"]
    assert summary["n"] == 2 and summary["n_undefined"] == 1 and 0.9 < summary["value"] <= 1
    row = next(r for r in doc["per_image"] if r["id"] == "0")
    assert row["ms_ssim"] is None and row["ms_ssim_nonfinite"] == "nan"
    assert "ms_ssim is undefined for 1 pair(s)" in err and err.startswith("warning: ")


def test_lpips_two_images_equals_the_reference_and_records_its_options(tmp_path, capsys, monkeypatch):
    import torch

    from tests.backbones.lpips.fixtures import install_random_lpips
    from tests.backbones.lpips.reference import im2tensor

    ref = install_random_lpips(monkeypatch, tmp_path / "w", "squeeze", seed=1)
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    pa, pb = _save(tmp_path / "a.png", a), _save(tmp_path / "b.png", b)
    code, out, err = _run(capsys, pa, pb, "--metrics", "lpips,ssim", "--lpips-net", "squeeze",
                          "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    with torch.no_grad():
        expected = float(ref(im2tensor(a), im2tensor(b)).flatten()[0])
    lp = doc["metrics"]["lpips"]
    assert abs(lp["value"] - expected) <= 1e-6 and lp["higher_is_better"] is False
    assert lp["options"] == {"net": "squeeze", "version": "0.1", "resize": "none"}
    protocol = doc["protocols"]["lpips"]
    assert protocol["trunk_weights"] == "torchvision-squeezenet1_1" and protocol["normalize_eps"] == 1e-10
    code, out, err = _run(capsys, pa, pb, "--metrics", "lpips", "--lpips-net", "squeeze",
                          "--lpips-resize", "64", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["lpips"]["options"]["resize"] == 64


def test_lpips_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    from tests.backbones.lpips.fixtures import install_random_lpips

    a = _save(tmp_path / "a.png", np.zeros((20, 20, 3), np.uint8))
    code, _, err = _run(capsys, a, a, "--metrics", "lpips")  # no weights, offline
    assert code == 2 and err.count("\n") == 1 and "weights import torchvision-alexnet" in err
    code, _, err = _run(capsys, a, a, "--metrics", "psnr", "--lpips-net", "vgg")
    assert code == 2 and "--lpips-net does not apply: add lpips to --metrics" in err
    install_random_lpips(monkeypatch, tmp_path / "w", "alex")
    code, _, err = _run(capsys, a, a, "--metrics", "lpips")
    assert code == 2 and err.count("\n") == 1
    assert "a.png vs" in err and "LPIPS-alex needs images of at least 31x31 pixels" in err
    b = _save(tmp_path / "b.png", np.zeros((40, 41, 3), np.uint8))
    c = _save(tmp_path / "c.png", np.zeros((40, 40, 3), np.uint8))
    code, _, err = _run(capsys, b, c, "--metrics", "lpips")
    assert code == 2 and "b.png is 41x40 but" in err and err.count("\n") == 1
