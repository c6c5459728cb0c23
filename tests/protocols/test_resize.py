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


def test_tf1_matches_scalar_reference(photo_512x768):
    img = photo_512x768[:200, :300].astype(np.float64)
    ours = resize_tf1(img.astype(np.uint8), 37)
    ref = _tf1_reference(img, 37)
    assert np.abs(ours - ref).max() < 1e-3


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
