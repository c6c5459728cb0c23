"""LPIPS equals a re-statement of the ``lpips`` package's forward with the same random weights."""

import numpy as np
import pytest
import torch

from genmetrics.backbones.lpips.network import LPIPSNetwork, min_input_side
from genmetrics.errors import UserError
from genmetrics.metrics.functional.lpips import lpips, lpips_input
from tests.backbones.lpips.reference import im2tensor, random_reference

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pair(h, w, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_equals_lpips_package_forward_on_odd_sizes(net):
    ref = random_reference(net, seed=1)
    ours = LPIPSNetwork.from_state_dicts(net, ref.trunk_state_dict(), ref.head_state_dict())
    for h, w in ((37, 53), (61, 45)):
        a, b = _pair(h, w, seed=h)
        with torch.no_grad():
            expected = float(ref(im2tensor(a), im2tensor(b)).flatten()[0])
        got = lpips(ours, a, b)
        assert expected > 0
        assert abs(got - expected) <= 1e-6, (net, h, w, got, expected)
    assert lpips(ours, a, a) == 0.0


@pytest.mark.parametrize("net, size", [("alex", 64), ("squeeze", 40)])
def test_resize_equals_torchmetrics_rule(net, size):
    ref = random_reference(net, seed=2, resize=size)
    ours = LPIPSNetwork.from_state_dicts(net, ref.trunk_state_dict(), ref.head_state_dict(), size)
    for h, w in ((37, 53), (71, 83)):  # bilinear up, area down
        a, b = _pair(h, w, seed=w)
        with torch.no_grad():
            expected = float(ref(im2tensor(a), im2tensor(b)).flatten()[0])
        assert abs(lpips(ours, a, b) - expected) <= 1e-6


def test_input_scaling_is_the_lpips_packages():
    a = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    np.testing.assert_array_equal(lpips_input(a)[None], im2tensor(a).numpy())
    assert lpips_input(a).min() == -1.0 and lpips_input(a).max() == 1.0


def test_minimum_sizes_and_errors():
    sides = {net: min_input_side(net) for net in ("alex", "vgg", "squeeze")}
    for net, side in sides.items():
        ref = random_reference(net)
        ours = LPIPSNetwork.from_state_dicts(net, ref.trunk_state_dict(), ref.head_state_dict())
        a, b = _pair(side, side)
        assert np.isfinite(lpips(ours, a, b))  # the smallest size runs
        a, b = _pair(side - 1, side + 5)
        with pytest.raises(UserError, match=f"LPIPS-{net} needs images of at least {side}x{side}"):
            lpips(ours, a, b)
    with pytest.raises(UserError, match="same size"):
        lpips(ours, *_pair(40, 40)[:1], _pair(40, 41)[0])
    ref = random_reference("alex")
    bad = ref.head_state_dict()
    bad.pop("lin3.model.1.weight")
    with pytest.raises(UserError, match="lack lin3.model.1.weight"):
        LPIPSNetwork.from_state_dicts("alex", ref.trunk_state_dict(), bad)
