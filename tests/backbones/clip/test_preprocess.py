"""CLIP and HPS v2 preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.backbones.clip.preprocess import (
    OPENAI_MEAN,
    OPENAI_STD,
    clip_preprocess,
    hps_preprocess,
    normalize,
    resize_longest_pad,
    resize_shortest_center_crop,
)
from genmetrics.errors import UserError
from tests.conftest import shared_file


def test_matches_openai_clip_reference() -> None:
    from PIL import Image

    image = np.asarray(Image.open(shared_file("clip/franz-kafka.jpg")).convert("RGB"))
    expected = np.load(shared_file("clip/expected_preprocessed_image.npy")).reshape(3, 224, 224)
    out = clip_preprocess(image, 224)
    assert out.dtype == np.float32 and out.shape == (3, 224, 224)
    assert np.abs(out - expected).max() <= 1e-5


def test_shapes_and_crop_rounding(real_photos) -> None:
    for image in real_photos.values():
        for size in (224, 336):
            out = clip_preprocess(image, size)
            assert out.shape == (3, size, size) and np.isfinite(out).all()
    # 5 wide → resized to 225 wide: top/left = round(0.5) = 0 (banker's rounding, as torchvision)
    ramp = np.tile(np.arange(225, dtype=np.uint8)[None, :, None], (224, 1, 3))
    crop = resize_shortest_center_crop(ramp, 224)
    assert crop.shape == (224, 224, 3) and crop[0, 0, 0] == 0


@pytest.mark.parametrize(("h", "w"), [(300, 200), (100, 50), (50, 300), (224, 224), (500, 500)])
def test_hps_pads_centred_with_zeros(h: int, w: int) -> None:
    image = np.full((h, w, 3), 200, dtype=np.uint8)
    padded = resize_longest_pad(image, 224)
    scale = 224 / max(h, w)
    new_h, new_w = round(h * scale), round(w * scale)
    top, left = (224 - new_h) // 2, (224 - new_w) // 2
    inside = np.zeros((224, 224), dtype=bool)
    inside[top : top + new_h, left : left + new_w] = True
    assert (padded[inside] == 200).all() and (padded[~inside] == 0).all()
    out = hps_preprocess(image)
    zero = normalize(np.zeros((1, 1, 3), dtype=np.uint8))[:, 0, 0]
    assert np.allclose(out[:, ~inside].T, zero, atol=0)
    assert np.allclose(zero, -np.asarray(OPENAI_MEAN) / np.asarray(OPENAI_STD), atol=1e-6)


def test_hps_odd_padding_goes_right() -> None:
    padded = resize_longest_pad(np.full((300, 200, 3), 255, dtype=np.uint8), 224)
    cols = np.flatnonzero(padded[112, :, 0])
    assert (cols[0], 223 - cols[-1]) == (37, 38)  # 149 wide, 75 columns of padding


def test_rejects_non_rgb_uint8() -> None:
    with pytest.raises(UserError, match="HxWx3 uint8"):
        clip_preprocess(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(UserError, match="HxWx3 uint8"):
        hps_preprocess(np.zeros((10, 10, 3), dtype=np.float32))
