"""CMMD: a direct float64 formula and the official estimator re-stated (biased, sigma 10, x1000)."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.metrics.functional.cmmd import cmmd


def _unit(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)) + shift
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _direct(x, y, sigma=10.0):
    """Pairwise loops over exp(-||a-b||^2 / (2 sigma^2)), all pairs (V-statistic)."""

    def mean_k(a, b):
        return np.mean([[np.exp(-np.sum((u - v) ** 2) / (2 * sigma**2)) for v in b] for u in a])

    return 1000.0 * (mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y))


def _official(x, y):
    """google-research/cmmd distance.mmd re-stated in numpy float64 (same algebra)."""
    gamma = 1 / (2 * 10**2)
    xs, ys = np.diag(x @ x.T), np.diag(y @ y.T)
    k_xx = np.mean(np.exp(-gamma * (-2 * x @ x.T + xs[:, None] + xs[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * x @ y.T + xs[:, None] + ys[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * y @ y.T + ys[:, None] + ys[None, :])))
    return 1000 * (k_xx + k_yy - 2 * k_xy)


def test_matches_direct_formula_and_official_estimator():
    x, y = _unit(17, 12, 0), _unit(23, 12, 1, shift=0.4)
    value = cmmd(x, y, normalize=False)
    assert value == pytest.approx(_direct(x, y), rel=1e-10)
    assert value == pytest.approx(_official(x, y), rel=1e-10)
    assert value > 0


def test_chunking_does_not_change_the_value_and_normalises():
    x, y = _unit(50, 768, 2), _unit(40, 768, 3, shift=0.05)
    ref = _official(x, y)
    assert cmmd(x, y, normalize=False, chunk_size=7) == pytest.approx(ref, rel=1e-10)
    assert cmmd(3.0 * x, 0.5 * y, chunk_size=64) == pytest.approx(ref, rel=1e-10)


def test_same_set_is_zero_and_errors():
    x = _unit(10, 8, 4)
    assert abs(cmmd(x, x)) < 1e-9
    with pytest.raises(UserError, match="dimension"):
        cmmd(x, _unit(10, 9, 5))
    with pytest.raises(UserError, match="all-zero"):
        cmmd(np.zeros((3, 8)), x)


def test_cmmd_preprocessing_is_the_official_crop_then_resize():
    """io_util._center_crop_and_resize (PIL crop box, BICUBIC to 336), /255, CLIP normalise."""
    from PIL import Image

    from genmetrics.backbones.clip.cmmd import cmmd_preprocess
    from genmetrics.backbones.clip.preprocess import OPENAI_MEAN, OPENAI_STD

    img = np.random.default_rng(5).integers(0, 256, (401, 517, 3), dtype=np.uint8)
    im = Image.fromarray(img)
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    ref = np.asarray(im.crop((left, top, left + side, top + side)).resize((336, 336), Image.BICUBIC))
    ref = ref.astype(np.float32) / 255.0
    ref = ((ref - np.float32(OPENAI_MEAN)) / np.float32(OPENAI_STD)).transpose(2, 0, 1)
    out = cmmd_preprocess(img)
    assert out.shape == (3, 336, 336)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
