"""Resize protocols on non-square, non-299 inputs, each against an independent restatement."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genmetrics.errors import UserError
from genmetrics.protocols.resize import (
    get_resize_protocol,
    resize_clean,
    resize_pytorch_fid,
    resize_tf1,
)


@pytest.fixture(scope="module")
def photo_512x768(real_photos):
    return np.asarray(Image.fromarray(real_photos["coffee"]).resize((768, 512), Image.BICUBIC))


def _tf1_reference(img: np.ndarray, size: int) -> np.ndarray:
    """TF1 resize_bilinear(align_corners=False), one output pixel at a time."""
    h, w, _ = img.shape
    out = np.zeros((size, size, 3), np.float64)
    for i in range(size):
        sy = i * h / size
        y0 = int(np.floor(sy))
        y1 = min(y0 + 1, h - 1)
        dy = sy - y0
        for j in range(size):
            sx = j * w / size
            x0 = int(np.floor(sx))
            x1 = min(x0 + 1, w - 1)
            dx = sx - x0
            top = img[y0, x0] * (1 - dx) + img[y0, x1] * dx
            bot = img[y1, x0] * (1 - dx) + img[y1, x1] * dx
            out[i, j] = top * (1 - dy) + bot * dy
    return out.transpose(2, 0, 1)


def test_shapes_and_ranges_on_512x768(photo_512x768):
    for name in ("clean", "tf1", "pytorch-fid"):
        out = get_resize_protocol(name)(photo_512x768, 299)
        assert out.shape == (3, 299, 299) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 256


def test_tf1_is_close_to_the_exact_real_valued_resize(photo_512x768):
    """TF1 computes its sample positions in float32; against exact float64 positions the
    output moves by a few hundredths of a grey level, never more."""
    img = photo_512x768[:200, :300].astype(np.float64)
    ours = resize_tf1(img.astype(np.uint8), 37)
    ref = _tf1_reference(img, 37)
    assert np.abs(ours - ref).max() < 0.05


def _tf1_torch_fidelity_arithmetic(img: np.ndarray, size: int) -> np.ndarray:
    """Our re-statement, in plain torch on the whole float image, of the arithmetic of
    torch-fidelity's TF1 emulation (``interpolate_bilinear_2d_like_tensorflow1x``, 'slow'):
    float32 grids ``arange(out) * float32(in/out)``, ``.long()`` truncation, the upper index
    clamped, fraction ``grid - lo``; interpolate along rows with ``dx`` first, then ``dy``."""
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    h, w = img.shape[:2]

    def grid(n_in):
        g = torch.arange(0, size, 1, dtype=torch.float32) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = g.long()
        return lo, (lo + 1).clamp_max(n_in - 1), g - lo.float()

    ylo, yhi, dy = grid(h)
    xlo, xhi, dx = grid(w)
    a, b = x[:, :, ylo, :][:, :, :, xlo], x[:, :, ylo, :][:, :, :, xhi]
    c, d = x[:, :, yhi, :][:, :, :, xlo], x[:, :, yhi, :][:, :, :, xhi]
    top = a + (b - a) * dx.view(1, 1, 1, size)
    bottom = c + (d - c) * dx.view(1, 1, 1, size)
    return (top + (bottom - top) * dy.view(1, 1, size, 1))[0].numpy()


@pytest.mark.parametrize("shape", [(333, 517), (517, 333), (64, 64), (3, 200), (200, 3), (300, 299), (299, 299)])
def test_tf1_is_bit_exact_with_torch_fidelity_arithmetic(shape):
    img = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_tf1(img, 299), _tf1_torch_fidelity_arithmetic(img, 299))


def test_tf1_memory_is_bounded_by_the_output_for_extreme_shapes():
    """A 1 x 200,000 strip: only sampled rows and columns become float (the old code made
    299 full-width float rows: 700 MB here, 7 GB for 1 x 2,000,000)."""
    import tracemalloc

    img = np.zeros((2, 200_000, 3), np.uint8)
    tracemalloc.start()
    out = resize_tf1(img, 299)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (3, 299, 299) and peak < 20 * 2**20


def test_tf1_integer_downscale_is_subsampling():
    img = np.random.default_rng(0).integers(0, 255, (598, 897, 3), dtype=np.uint8)
    out = resize_tf1(img, 299)
    np.testing.assert_allclose(out[:, :, 0], img[::2, 0, :].T, atol=1e-4)


def test_pytorch_fid_is_torch_bilinear_without_antialias(photo_512x768):
    t = torch.from_numpy(photo_512x768).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    ref = F.interpolate(t, size=(299, 299), mode="bilinear", align_corners=False)[0]
    # what the network then sees, (x - 128) / 128, must equal pytorch-fid's 2·x/255 − 1 input
    ours = (resize_pytorch_fid(photo_512x768, 299) - 128) / 128
    assert np.abs(ours - ref.numpy()).max() < 1e-5


def test_clean_is_unquantised_pil_bicubic(photo_512x768):
    ours = resize_clean(photo_512x768, 299)
    assert not np.allclose(ours, np.round(ours))  # no re-quantisation
    u8 = np.asarray(Image.fromarray(photo_512x768).resize((299, 299), Image.BICUBIC)).transpose(2, 0, 1)
    diff = np.abs(ours - u8)
    assert diff.max() <= 3.0 and diff.mean() < 0.5  # same filter; the uint8 path rounds between passes
    # clean differs from the bilinear protocols (the reason FIDs differ between libraries)
    assert np.abs(ours - resize_tf1(photo_512x768, 299)).mean() > 0.5


def test_unknown_protocol():
    with pytest.raises(UserError, match="unknown protocol"):
        get_resize_protocol("bilinear")
