"""Bad in-memory images given to ``genmetrics.evaluate``: a :class:`UserError` naming
``image[i]``, raised before any forward pass."""

from __future__ import annotations

import numpy as np
import pytest

import genmetrics
from genmetrics.errors import UserError
from tests.fakes import PixelBackbone


def _good(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((16, 16, 3)).astype(np.float32)


def _with(value: float) -> np.ndarray:
    img = _good(9)
    img[3, 4, 1] = value
    return img


BAD_ARRAYS = [
    pytest.param(_with(np.nan), id="nan-pixels"),
    pytest.param(_with(np.inf), id="inf-pixels"),
    pytest.param(_with(-np.inf), id="minus-inf-pixels"),
    pytest.param(np.zeros((0, 0, 3), np.uint8), id="empty-0x0"),
    pytest.param(np.full((16, 16, 3), 255.0, np.float32), id="float-0-255-range"),
    pytest.param(_with(-0.5), id="float-negative"),
    pytest.param(np.zeros(48, np.uint8), id="wrong-ndim-1d"),
    pytest.param(np.zeros((1, 2, 16, 16, 3), np.uint8), id="wrong-ndim-5d"),
    pytest.param(np.zeros((16, 16, 5), np.uint8), id="five-channels"),
]


@pytest.mark.parametrize("bad", BAD_ARRAYS)
def test_bad_in_memory_image(bad: np.ndarray) -> None:
    bb = PixelBackbone()
    images = [_good(0), bad, _good(1), _good(2)]
    with pytest.raises(UserError) as info:
        genmetrics.evaluate(images, metrics="is", backbones={"inception": bb}, cache=False)
    message = str(info.value)
    assert "image[1]" in message, message
    assert "\n" not in message, message
    assert bb.calls == 0
