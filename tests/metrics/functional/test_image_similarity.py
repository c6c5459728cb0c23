"""PSNR / SSIM / MS-SSIM against scikit-image, torchmetrics and independent restatements."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy import ndimage, signal

from genmetrics.errors import UserError
from genmetrics.metrics.functional.image_similarity import (
    MS_SSIM_WEIGHTS,
    ms_ssim,
    psnr,
    ssim,
)

sk_metrics = pytest.importorskip("skimage.metrics")

TOL = 1e-6
MAX_SIDE = 320  # crop photos so the whole file stays fast; still real photographs
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "hubble", "immunohistochemistry"]
DISTORTIONS = ["noise", "blur", "jpeg"]


def _crop(img: np.ndarray) -> np.ndarray:
    return img[:MAX_SIDE, :MAX_SIDE]


def _distort(img: np.ndarray, kind: str) -> np.ndarray:
    rng = np.random.default_rng(1234)
    if kind == "noise":
        return np.clip(img + rng.normal(0.0, 18.0, img.shape), 0, 255).round().astype(np.uint8)
    if kind == "blur":
        sigma = (1.7, 1.7, 0.0)[: img.ndim]
        return ndimage.gaussian_filter(img.astype(np.float64), sigma).round().astype(np.uint8)
    if kind == "jpeg":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=25)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(img).mode))
    raise AssertionError(kind)


def _gray_u8(img: np.ndarray) -> np.ndarray:
    weights = np.array([0.2125, 0.7154, 0.0721])
    return (img.astype(np.float64) @ weights).round().astype(np.uint8)


def _sk_ssim(a, b, data_range, full=False):
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    kwargs["data_range"] = data_range
    if a.ndim == 3:
        kwargs["channel_axis"] = -1
    return sk_metrics.structural_similarity(a, b, full=full, **kwargs)


# ----------------------------------------------------------------------------- PSNR / SSIM


@pytest.mark.parametrize("kind", DISTORTIONS)
@pytest.mark.parametrize("name", PHOTOS)
def test_ssim_psnr_match_skimage_color_uint8(real_photos, name, kind):
    a = _crop(real_photos[name])
    b = _distort(a, kind)
    assert abs(ssim(a, b) - _sk_ssim(a, b, 255)) < TOL
    assert abs(psnr(a, b) - sk_metrics.peak_signal_noise_ratio(a, b, data_range=255)) < TOL


@pytest.mark.parametrize("kind", DISTORTIONS)
@pytest.mark.parametrize("name", ["astronaut", "coffee", "hubble"])
def test_ssim_psnr_match_skimage_gray_and_float(real_photos, name, kind):
    a = _crop(real_photos[name])
    b = _distort(a, kind)
    ga, gb = _gray_u8(a), _gray_u8(b)
    assert abs(ssim(ga, gb) - _sk_ssim(ga, gb, 255)) < TOL
    assert abs(psnr(ga, gb) - sk_metrics.peak_signal_noise_ratio(ga, gb, data_range=255)) < TOL
    fa, fb = a / 255.0, b / 255.0  # float colour, default data_range 1.0
    assert abs(ssim(fa, fb) - _sk_ssim(fa, fb, 1.0)) < TOL
    assert abs(psnr(fa, fb) - sk_metrics.peak_signal_noise_ratio(fa, fb, data_range=1.0)) < TOL
    fga, fgb = ga / 255.0, gb / 255.0  # float grayscale
    assert abs(ssim(fga, fgb) - _sk_ssim(fga, fgb, 1.0)) < TOL


def test_ssim_full_map_matches_skimage(real_photos):
    a = _crop(real_photos["chelsea"])
    b = _distort(a, "noise")
    score, smap = ssim(a, b, full=True)
    ref, ref_map = _sk_ssim(a, b, 255, full=True)
    assert smap.shape == a.shape
    assert abs(score - ref) < TOL
    assert np.abs(smap - ref_map).max() < TOL
    gscore, gmap = ssim(_gray_u8(a), _gray_u8(b), full=True)
    assert gmap.shape == a.shape[:2]
    assert abs(gscore - gmap[5:-5, 5:-5].mean()) < 1e-12


def test_identical_images(real_photos):
    a = _crop(real_photos["astronaut"])
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_explicit_data_range_changes_constants(real_photos):
    a = _crop(real_photos["coffee"])
    b = _distort(a, "blur")
    assert abs(ssim(a, b, data_range=100) - _sk_ssim(a, b, 100)) < TOL
    assert psnr(a, b, data_range=1.0) == pytest.approx(psnr(a, b) - 20 * np.log10(255.0))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", [psnr, ssim, ms_ssim])
def test_shape_mismatch_names_both_shapes(fn):
    a = np.zeros((200, 200, 3), np.uint8)
    b = np.zeros((200, 180, 3), np.uint8)
    with pytest.raises(UserError, match=r"\(200, 200, 3\).*\(200, 180, 3\)"):
        fn(a, b)


def test_data_range_inference_errors():
    a = np.zeros((16, 16), np.uint8)
    with pytest.raises(UserError, match="data_range"):
        ssim(a, a.astype(np.float64))
    with pytest.raises(UserError, match="data_range"):
        psnr(a.astype(np.uint16), a.astype(np.uint16))
    assert psnr(a.astype(np.uint16), a.astype(np.uint16), data_range=65535) == float("inf")
    with pytest.raises(UserError, match="data_range"):
        psnr(a, a, data_range=0)


def test_too_small_images():
    with pytest.raises(UserError, match="11x11"):
        ssim(np.zeros((10, 40), np.uint8), np.zeros((10, 40), np.uint8))
    img = np.zeros((175, 300), np.uint8)
    with pytest.raises(UserError, match="176x176"):
        ms_ssim(img, img)
    ok = np.zeros((176, 176), np.uint8)
    assert ms_ssim(ok, ok) == pytest.approx(1.0)
    with pytest.raises(UserError, match="44x44"):
        ms_ssim(img[:43, :43], img[:43, :43], weights=(0.2, 0.3, 0.5))


# ----------------------------------------------------------------------------- MS-SSIM


def _window() -> np.ndarray:
    k = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(k**2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


def _valid_stats(x: np.ndarray, y: np.ndarray, r: float) -> tuple[float, float]:
    """MATLAB-style restatement: 'valid' filtering with an explicit 11x11 window -> (ssim, cs)."""
    w = _window()

    def filt(img):
        return signal.fftconvolve(img, w, mode="valid")

    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx**2
    syy = filt(y * y) - my**2
    sxy = filt(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    return float((lum * cs).mean()), float(cs.mean())


def _halve(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    t = img[:h, :w]
    return (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]) / 4.0


def _ms_ssim_restated(a, b, r, weights=MS_SSIM_WEIGHTS) -> float:
    """The documented formula, channel by channel, written out independently."""
    a = np.atleast_3d(a.astype(np.float64))
    b = np.atleast_3d(b.astype(np.float64))
    values = []
    for c in range(a.shape[2]):
        x, y = a[:, :, c], b[:, :, c]
        value = 1.0
        for j, wj in enumerate(weights):
            s, cs = _valid_stats(x, y, r)
            value *= (s if j == len(weights) - 1 else cs) ** wj
            x, y = _halve(x), _halve(y)
        values.append(value)
    return float(np.mean(values))


def _ms_ssim_from_skimage(a, b, r, weights=MS_SSIM_WEIGHTS) -> float:
    """Restatement on scikit-image components: cs from structural_similarity with a huge K1
    (luminance term == 1 to ~1e-16), the coarsest term from plain structural_similarity, and
    downscale_local_mean for the 2x2 pooling (on even-trimmed images)."""
    from skimage.transform import downscale_local_mean

    a = np.atleast_3d(a.astype(np.float64))
    b = np.atleast_3d(b.astype(np.float64))
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=r)
    values = []
    for c in range(a.shape[2]):
        x, y = a[:, :, c], b[:, :, c]
        value = 1.0
        for j, wj in enumerate(weights):
            if j == len(weights) - 1:
                term = sk_metrics.structural_similarity(x, y, **kw)
            else:
                term = sk_metrics.structural_similarity(x, y, K1=1e8, **kw)
            value *= term**wj
            h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
            x = downscale_local_mean(x[:h, :w], (2, 2))
            y = downscale_local_mean(y[:h, :w], (2, 2))
        values.append(value)
    return float(np.mean(values))


def _torchmetrics_convention(a, b, r, joint_channels: bool) -> float:
    """torchmetrics' MS-SSIM (normalize=None) restated: same cs terms, but the coarsest term is
    the mean of the *whole* SSIM map computed with mirror padding (torch 'reflect' = scipy
    'mirror'), and with ``joint_channels`` the channel average is taken per scale before the
    powers (torchmetrics' behaviour for a C-channel tensor)."""
    x = np.atleast_3d(a.astype(np.float64))
    y = np.atleast_3d(b.astype(np.float64))
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    terms = []
    for j in range(len(MS_SSIM_WEIGHTS)):

        def filt(img):
            return ndimage.gaussian_filter(img, (1.5, 1.5, 0), mode="mirror", truncate=3.5)

        mx, my = filt(x), filt(y)
        sxx = np.maximum(filt(x * x) - mx**2, 0)
        syy = np.maximum(filt(y * y) - my**2, 0)
        sxy = filt(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        full = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs
        last = j == len(MS_SSIM_WEIGHTS) - 1
        terms.append(full.mean(axis=(0, 1)) if last else cs[5:-5, 5:-5].mean(axis=(0, 1)))
        x = np.stack([_halve(x[:, :, k]) for k in range(x.shape[2])], axis=2)
        y = np.stack([_halve(y[:, :, k]) for k in range(y.shape[2])], axis=2)
    t = np.array(terms)  # (scales, channels)
    w = np.array(MS_SSIM_WEIGHTS)
    if joint_channels:
        return float(np.prod(t.mean(axis=1) ** w))
    return float(np.mean(np.prod(t ** w[:, None], axis=0)))


MS_CASES = [("astronaut", "noise"), ("coffee", "jpeg"), ("rocket", "blur"), ("chelsea", "noise")]


@pytest.mark.parametrize(("name", "kind"), MS_CASES)
def test_ms_ssim_matches_restatements(real_photos, name, kind):
    a = real_photos[name]  # full size: the coarsest scale must stay >= 11 px
    b = _distort(a, kind)
    ours = ms_ssim(a, b)
    assert abs(ours - _ms_ssim_restated(a, b, 255.0)) < TOL
    assert abs(ours - _ms_ssim_from_skimage(a, b, 255.0)) < TOL
    ga, gb = _gray_u8(a), _gray_u8(b)
    assert abs(ms_ssim(ga, gb) - _ms_ssim_restated(ga, gb, 255.0)) < TOL
    fa, fb = a / 255.0, b / 255.0
    assert abs(ms_ssim(fa, fb) - ours) < 1e-9  # scale invariant with matching data_range


@pytest.fixture
def torch_one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # float64 conv2d thrashes on a shared 2-core box otherwise
    yield torch
    torch.set_num_threads(before)


@pytest.mark.parametrize(("name", "kind"), [("astronaut", "noise"), ("rocket", "jpeg")])
def test_ms_ssim_vs_torchmetrics(real_photos, torch_one_thread, name, kind):
    torch = torch_one_thread
    tm_image = pytest.importorskip("torchmetrics.functional.image")
    tm_ms_ssim = tm_image.multiscale_structural_similarity_index_measure

    a = real_photos[name][:256, :272]  # coarsest scale 16x17
    b = _distort(a, kind)

    def tm(x, y):
        tx = torch.from_numpy(np.atleast_3d(x).astype(np.float64)).permute(2, 0, 1)[None]
        ty = torch.from_numpy(np.atleast_3d(y).astype(np.float64)).permute(2, 0, 1)[None]
        return float(tm_ms_ssim(tx, ty, data_range=255.0, normalize=None))

    tm_joint = tm(a, b)
    tm_per_channel = float(np.mean([tm(a[..., c], b[..., c]) for c in range(a.shape[2])]))
    # The convention differences explain torchmetrics exactly ...
    assert abs(tm_joint - _torchmetrics_convention(a, b, 255.0, joint_channels=True)) < TOL
    assert abs(tm_per_channel - _torchmetrics_convention(a, b, 255.0, False)) < TOL
    # ... and leave ours close to it (measured max |diff| 6.2e-4 over 18 full-size photo pairs).
    ours = ms_ssim(a, b)
    assert abs(ours - tm_joint) < 2e-3
    assert abs(ours - tm_per_channel) < 2e-3


def test_ms_ssim_anticorrelated_gives_nan():
    rng = np.random.default_rng(0)
    a = rng.random((176, 176))
    assert np.isnan(ms_ssim(a, 1.0 - a))
