"""Paired (full-reference) image similarity: PSNR, SSIM and MS-SSIM.

Inputs are single images as ``HxW`` (grayscale) or ``HxWxC`` (channels last) arrays of equal
shape, ``uint8`` or float. All arithmetic is float64. ``data_range`` is the span ``R`` of
possible pixel values; by default 255 when both images are ``uint8`` and 1.0 when both are
float. Any other dtype combination must pass ``data_range`` explicitly.

Conventions (shared by :func:`ssim` and :func:`ms_ssim`):

* Gaussian window of 11x11 taps, sigma 1.5 (scipy ``gaussian_filter`` with ``truncate=3.5``,
  normalised to sum 1), K1 = 0.01, K2 = 0.03, C1 = (K1 R)^2, C2 = (K2 R)^2.
* Population (biased, weights summing to 1) local variances and covariance, as in
  Wang et al. 2004 and their MATLAB code.
* Border policy: local statistics are computed with symmetric ("reflect", edge pixel
  repeated) padding, but the pooled score averages only the interior pixels whose 11x11
  window lies fully inside the image (a 5-pixel strip is dropped on every side). The pooled
  value therefore equals MATLAB's ``filter2(..., 'valid')`` reference and
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``; only the border of the optional full map depends on the
  padding.
* Colour images: each channel is scored on its own and the per-channel scores are averaged
  with equal weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genmetrics.errors import UserError

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "psnr", "ssim"]

K1 = 0.01
K2 = 0.03
SIGMA = 1.5
_TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5 -> 11 taps, the window of Wang et al. 2004
RADIUS = int(_TRUNCATE * SIGMA + 0.5)
WINDOW = 2 * RADIUS + 1

#: Per-scale exponents of Wang, Simoncelli & Bovik 2003 (finest scale first).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _prepare(
    a: np.ndarray, b: np.ndarray, data_range: float | None
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Validate a pair; return float64 ``HxWxC`` copies, the data range and a grayscale flag."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise UserError(
            f"image shapes differ: {a.shape} vs {b.shape}; paired metrics need images of the "
            "same size (resize or crop one of them)"
        )
    if a.ndim not in (2, 3):
        raise UserError(
            f"expected an HxW or HxWxC image, got an array of shape {a.shape}; "
            "pass one image at a time with channels last"
        )
    for arr in (a, b):
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UserError(f"image dtype {arr.dtype} is not numeric; use uint8 or float arrays")
    if data_range is None:
        if a.dtype == np.uint8 and b.dtype == np.uint8:
            data_range = 255.0
        elif np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating):
            data_range = 1.0
        else:
            raise UserError(
                f"cannot infer data_range for image dtypes {a.dtype} and {b.dtype}; "
                "pass data_range explicitly (e.g. 255 for 8-bit, 1.0 for [0, 1] floats)"
            )
    data_range = float(data_range)
    if not np.isfinite(data_range) or data_range <= 0:
        raise UserError(f"data_range must be a positive finite number, got {data_range}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise UserError("images contain NaN or infinite values; clean them before scoring")
    gray = x.ndim == 2
    if gray:
        x = x[:, :, None]
        y = y[:, :, None]
    return x, y, data_range, gray


def _local_maps(x: np.ndarray, y: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel SSIM map and contrast-structure map of ``HxWxC`` float64 images."""
    from scipy import ndimage  # lazily: keeps scipy out of the CLI's start-up

    sigma = (SIGMA, SIGMA, 0.0)  # filter the two spatial axes only, channels independently

    def smooth(img: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(img, sigma=sigma, mode="reflect", truncate=_TRUNCATE)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    mu_x = smooth(x)
    mu_y = smooth(y)
    var_x = smooth(x * x) - mu_x * mu_x
    var_y = smooth(y * y) - mu_y * mu_y
    cov = smooth(x * y) - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * cov + c2) / (var_x + var_y + c2)
    return luminance * contrast_structure, contrast_structure


def _pooled(img_map: np.ndarray) -> np.ndarray:
    """Mean over the valid interior (window fully inside the image), per channel -> (C,)."""
    return img_map[RADIUS:-RADIUS, RADIUS:-RADIUS, :].mean(axis=(0, 1))


def _check_min_side(shape: tuple[int, ...], min_side: int, what: str) -> None:
    height, width = shape[0], shape[1]
    if min(height, width) < min_side:
        raise UserError(
            f"{what} needs images of at least {min_side}x{min_side} pixels, got {height}x{width}"
        )


def psnr(a: np.ndarray, b: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(R^2 / MSE)``.

    The mean squared error is taken over all pixels and channels together (as
    ``skimage.metrics.peak_signal_noise_ratio``). Identical images (MSE = 0) give ``inf``.
    """
    x, y, data_range, _ = _prepare(a, b, data_range)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    a: np.ndarray, b: np.ndarray, data_range: float | None = None, full: bool = False
) -> float | tuple[float, np.ndarray]:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE TIP 13(4)).

    ``SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
    sigma_y^2 + C2))`` with Gaussian-weighted local statistics; see the module docstring for
    window, constants and border policy. Images must be at least 11x11.

    Returns the mean SSIM (channel average), or with ``full=True`` a tuple ``(mean, map)``
    where ``map`` has the input's shape (its 5-pixel border uses reflect padding and is not
    part of the mean).
    """
    x, y, data_range, gray = _prepare(a, b, data_range)
    _check_min_side(x.shape, WINDOW, "SSIM")
    ssim_map, _ = _local_maps(x, y, data_range)
    score = float(_pooled(ssim_map).mean())
    if not full:
        return score
    return score, (ssim_map[:, :, 0] if gray else ssim_map)


def _downsample(img: np.ndarray) -> np.ndarray:
    """2x2 average pooling with stride 2; an odd last row/column is dropped."""
    h, w, c = img.shape
    h2, w2 = h // 2, w // 2
    return img[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2, c).mean(axis=(1, 3))


def ms_ssim(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float | None = None,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
) -> float:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003, Asilomar Conf. Signals, Systems & Computers).

    ``MS-SSIM = [l_M]^{w_M} * prod_{j=1..M} [cs_j]^{w_j}`` with ``M = len(weights)`` scales
    (finest first). ``cs_j`` is the pooled contrast-structure term at scale ``j``; at the
    coarsest scale the luminance enters through the pooled full SSIM map, i.e. the last
    factor is ``mean(l_M * cs_M)^{w_M}``, as in the authors' MATLAB code. Scale ``j + 1`` is
    scale ``j`` after 2x2 average pooling (stride 2, an odd last row/column is dropped).
    Each scale uses the SSIM window, constants and border policy of :func:`ssim` (pool over
    the valid interior only), so the coarsest scale must still be at least 11x11: images
    need both sides >= ``11 * 2**(M - 1)`` (176 for the default 5 weights), otherwise a
    :class:`UserError` names the minimum size.

    Colour images: MS-SSIM is computed per channel and the channel values are averaged.
    If a pooled term is negative at any scale (strongly anti-correlated images) the
    fractional power is undefined and that channel gives ``nan``.
    """
    x, y, data_range, _ = _prepare(a, b, data_range)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.isfinite(w).all() or (w < 0).any():
        raise UserError(f"MS-SSIM weights must be a non-empty list of numbers >= 0, got {weights}")
    n_scales = w.size
    _check_min_side(x.shape, WINDOW * 2 ** (n_scales - 1), f"MS-SSIM with {n_scales} scales")
    pooled = np.empty((n_scales, x.shape[2]), dtype=np.float64)
    for scale in range(n_scales):
        ssim_map, cs_map = _local_maps(x, y, data_range)
        last = scale == n_scales - 1
        pooled[scale] = _pooled(ssim_map if last else cs_map)
        if not last:
            x, y = _downsample(x), _downsample(y)
    per_channel = np.prod(np.power(np.clip(pooled, 0.0, None), w[:, None]), axis=0)
    per_channel = np.where((pooled < 0).any(axis=0), np.nan, per_channel)
    return float(per_channel.mean())
