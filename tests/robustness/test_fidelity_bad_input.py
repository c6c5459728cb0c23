"""Bad input to the fidelity features of ``compare`` / ``pair`` (issue 15): one ``error:``
line each, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.robustness.conftest import Runner, assert_user_error


def _folder(root: Path, name: str, size=(32, 32), drop: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    for style in ("a", "b"):
        for i in range(3):
            rel = f"{style}/{i:05d}"
            if rel == drop:
                continue
            path = root / name / f"{rel}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            shape = size if rel != "b/00001" else (size[0] + 2, size[1])
            Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
    return root / name


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return _folder(tmp_path, "base"), _folder(tmp_path, "fast")


def test_missing_baseline_image(tmp_path: Path, cli: Runner) -> None:
    base = _folder(tmp_path, "base", drop="a/00002")
    fast = _folder(tmp_path, "fast")
    res = cli("compare", base, fast, "--suite", "none", "--similarity", "ssim")
    assert_user_error(res, "only in fast", "a/00002", "--allow-missing")


def test_size_mismatch_between_a_pair(tmp_path: Path, cli: Runner) -> None:
    base = _folder(tmp_path, "base")
    fast = _folder(tmp_path, "fast", size=(32, 34))
    res = cli("compare", base, fast, "--suite", "none", "--similarity", "psnr")
    assert_user_error(res, "00000.png is 32x32 but", "is 34x32", "same size")


@pytest.mark.parametrize("expr, needle", [
    ("lpips<=0.1", "unknown metric 'lpips'"),
    ("ssim>=", "is not METRIC[@STYLE]OP NUMBER"),
    ("ssim~0.9", "is not METRIC[@STYLE]OP NUMBER"),
    ("ssim:worse", "unknown verdict 'worse'"),
    ("ssim>=nan", "not NaN"),
])
def test_bad_require(folders: tuple[Path, Path], cli: Runner, expr: str, needle: str) -> None:
    base, fast = folders
    res = cli("compare", base, fast, "--suite", "none", "--similarity", "ssim", "--require", expr)
    assert_user_error(res, "--require", needle)


def test_bad_paired_metric_options(folders: tuple[Path, Path], cli: Runner, tmp_path: Path) -> None:
    base, fast = folders
    assert_user_error(cli("compare", base, fast, "--suite", "none", "--similarity", "vif"),
                      "unknown similarity metric 'vif'")
    assert_user_error(cli("compare", base, fast, "--suite", "none", "--similarity", "lpips",
                          "--lpips-resize", "0"), "--lpips-resize")
    assert_user_error(cli("compare", base, fast, "--suite", "none", "--vs-baseline", "ssim"),
                      "--vs-baseline")
    assert_user_error(cli("compare", base, fast, "--suite", "none", "--similarity", "ssim",
                          "--require", "ssim>=0.5", "--junit", tmp_path), "--junit")
    assert_user_error(cli("pair", base / "a" / "00000.png", fast / "a" / "00000.png",
                          "--metrics", "dreamsim"), "GENMETRICS_DREAMSIM_SHA256")
