"""CLIP and HPS v2 preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from genmetrics.backbones.clip.preprocess import (
    OPENAI_MEAN,
    OPENAI_STD,
    clip_preprocess,
    hps_geometry,
    hps_preprocess,
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


def _hpsv2_restated(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Our re-statement of hpsv2 1.2.0's eval transform in plain torch, on the whole image:
    ToTensor (x.float() / 255, CxHxW), ResizeMaxSize on that tensor (torchvision >= 0.17
    F.resize = interpolate(bicubic, align_corners=False, antialias=True), no clamp for float),
    F.pad([l, t, r, b], fill 0), Normalize (sub mean, div std)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(image).permute(2, 0, 1).contiguous().float().div(255)
    h, w = x.shape[1:]
    scale = size / float(max(h, w))
    if scale != 1.0:
        nh, nw = round(h * scale), round(w * scale)
        x = F.interpolate(x[None], size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)[0]
        ph, pw = size - nh, size - nw
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=0.0)
    mean = torch.tensor(OPENAI_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(OPENAI_STD, dtype=torch.float32)[:, None, None]
    return x.sub(mean).div(std).numpy()


@pytest.mark.parametrize(
    ("h", "w"), [(333, 517), (517, 333), (224, 100), (100, 224), (224, 224), (1, 300), (500, 500), (90, 60)]
)
def test_hps_is_bit_exact_with_hpsv2(h: int, w: int) -> None:
    image = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ours = hps_preprocess(image)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    if max(h, w) == 224 and h != w:
        # hpsv2 hands the model a non-square tensor here (which it cannot take); we pad
        new_h, new_w, top, left = hps_geometry(h, w, 224)
        np.testing.assert_array_equal(ours[:, top : top + new_h, left : left + new_w], _hpsv2_restated(image))
        return
    np.testing.assert_array_equal(ours, _hpsv2_restated(image))


def test_hps_padding_is_centred_zero_before_normalisation() -> None:
    out = hps_preprocess(np.full((300, 200, 3), 255, dtype=np.uint8))
    new_h, new_w, top, left = hps_geometry(300, 200, 224)
    assert (new_h, new_w, top, left) == (224, 149, 0, 37)  # 75 columns: 37 left, 38 right
    zero = -np.asarray(OPENAI_MEAN, np.float32) / np.asarray(OPENAI_STD, np.float32)
    np.testing.assert_allclose(out[:, :, :37].reshape(3, -1).T, np.broadcast_to(zero, (224 * 37, 3)), rtol=1e-6)
    np.testing.assert_allclose(out[:, :, 37 + 149 :].reshape(3, -1).T, np.broadcast_to(zero, (224 * 38, 3)), rtol=1e-6)


def test_hps_float_resize_differs_from_the_old_uint8_pil_resize(real_photos) -> None:
    """The former PIL-on-uint8 resize was 0.2 grey levels off on average (up to ~20 at
    edges); hpsv2 resizes the float tensor and keeps the over/undershoot of bicubic."""
    from PIL import Image

    image = real_photos["astronaut"][:, 50:450]
    new_h, new_w, top, left = hps_geometry(*image.shape[:2], 224)
    old = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BICUBIC), np.float32)
    new = hps_preprocess(image) * np.asarray(OPENAI_STD, np.float32)[:, None, None]
    new = (new + np.asarray(OPENAI_MEAN, np.float32)[:, None, None]) * 255
    gap = np.abs(new[:, top : top + new_h, left : left + new_w].transpose(1, 2, 0) - old)
    assert 0.05 < gap.mean() < 1.0 and gap.max() > 2


def test_rejects_non_rgb_uint8() -> None:
    with pytest.raises(UserError, match="HxWx3 uint8"):
        clip_preprocess(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(UserError, match="HxWx3 uint8"):
        hps_preprocess(np.zeros((10, 10, 3), dtype=np.float32))
