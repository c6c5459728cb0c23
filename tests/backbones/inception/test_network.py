"""FIDInceptionV3 with random weights: taps, shapes, early stop, fc handling, input checks."""

from __future__ import annotations

import pytest
import torch

from genmetrics.backbones.inception.network import TAP_DIMS, TAPS, FIDInceptionV3
from genmetrics.errors import UserError


def random_inception(has_fc: bool = True, seed: int = 0) -> FIDInceptionV3:
    """Random weights scaled so activations neither vanish nor explode (He init)."""
    torch.manual_seed(seed)
    net = FIDInceptionV3(has_fc=has_fc)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return net


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    return random_inception()


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 299, 299, generator=g) * 255.0


def test_all_taps_shapes_and_order(net, batch):
    with torch.inference_mode():
        out = net(batch, taps=TAPS)
    assert list(out) == list(TAPS)
    for tap, value in out.items():
        assert value.shape == (2, TAP_DIMS[tap]), tap
        assert value.dtype == torch.float32
        assert torch.isfinite(value).all(), tap
        assert value.abs().mean() > 1e-2, tap  # activations did not vanish


def test_default_tap_is_pool3_only(net, batch):
    with torch.inference_mode():
        out = net(batch[:1])
    assert list(out) == ["pool3"]
    assert out["pool3"].shape == (1, 2048)


def test_logits_with_and_without_bias(net, batch):
    with torch.inference_mode():
        out = net(batch, taps=("logits", "logits_unbiased", "pool3"))
        expected = out["pool3"] @ net.fc.weight.T
    torch.testing.assert_close(out["logits_unbiased"], expected)
    torch.testing.assert_close(out["logits"], expected + net.fc.bias, rtol=1e-5, atol=1e-5)


def test_forward_stops_at_last_needed_stage(net):
    called: list[str] = []
    hooks = [
        getattr(net, name).register_forward_hook(lambda *_, n=name: called.append(n))
        for name in ("Conv2d_3b_1x1", "Mixed_5b", "Mixed_7a", "fc")
    ]
    x = torch.full((1, 3, 96, 96), 100.0)  # 96 px still reaches a 1x1 map after Mixed_7c
    expected = {
        "64": [],
        "192": ["Conv2d_3b_1x1"],
        "768": ["Conv2d_3b_1x1", "Mixed_5b"],
        "pool3": ["Conv2d_3b_1x1", "Mixed_5b", "Mixed_7a"],
        "logits": ["Conv2d_3b_1x1", "Mixed_5b", "Mixed_7a", "fc"],
    }
    try:
        with torch.inference_mode():
            for tap, stages in expected.items():
                called.clear()
                net(x, taps=(tap,))
                assert called == stages, tap
    finally:
        for h in hooks:
            h.remove()


def test_normalisation_and_first_tap_definition(net):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 96, 96, generator=g) * 255.0
    with torch.inference_mode():
        got = net(x, taps=("64",))["64"]
        y = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3((x - 128.0) / 128.0)))
        want = torch.nn.functional.max_pool2d(y, 3, 2).mean(dim=(2, 3))
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_train_mode_does_not_change_outputs(net, batch):
    with torch.inference_mode():
        ref = net(batch[:1], taps=("192",))["192"]
        net.train()
        try:
            again = net(batch[:1], taps=("192",))["192"]
        finally:
            net.eval()
    torch.testing.assert_close(again, ref, rtol=0, atol=0)


def test_without_fc():
    net = FIDInceptionV3(has_fc=False)
    assert net.fc is None
    assert not any(k.startswith("fc.") for k in net.state_dict())
    x = torch.full((1, 3, 96, 96), 50.0)
    with pytest.raises(UserError, match="no fc layer"):
        net(x, taps=("pool3", "logits_unbiased"))
    with torch.inference_mode():
        assert net(x, taps=("64",))["64"].shape == (1, 64)


@pytest.mark.parametrize(
    ("shape", "taps", "match"),
    [
        ((1, 3, 96, 96), ("pool4",), "unknown tap"),
        ((1, 3, 96, 96), (), "no taps"),
        ((1, 1, 96, 96), ("64",), "N x 3 x H x W"),
        ((3, 96, 96), ("64",), "N x 3 x H x W"),
    ],
)
def test_bad_requests_raise_user_error(net, shape, taps, match):
    with pytest.raises(UserError, match=match):
        net(torch.zeros(shape), taps=taps)


def test_state_dict_names_follow_pytorch_fid(net):
    keys = set(net.state_dict())
    for key in (
        "Conv2d_1a_3x3.conv.weight",
        "Conv2d_1a_3x3.bn.weight",
        "Conv2d_1a_3x3.bn.running_var",
        "Mixed_5b.branch_pool.conv.weight",
        "Mixed_6a.branch3x3dbl_3.bn.bias",
        "Mixed_6e.branch7x7dbl_5.conv.weight",
        "Mixed_7a.branch7x7x3_4.bn.running_mean",
        "Mixed_7c.branch3x3dbl_3b.conv.weight",
        "fc.weight",
        "fc.bias",
    ):
        assert key in keys, key
    assert not any("num_batches_tracked" in k for k in keys)
    assert net.state_dict()["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    # a pytorch-fid style dict with num_batches_tracked entries loads strictly
    sd = dict(net.state_dict())
    sd["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    FIDInceptionV3(has_fc=True).load_state_dict(sd, strict=True)


def test_folded_batch_norms_compute_the_same_function():
    """The backbone folds each frozen batch norm into its convolution (issue 14: ~1.3x less
    CPU). Against the unfolded network with non-trivial batch-norm statistics, on a
    non-square input: fp64 agrees to rounding, fp32 within float32 noise (measured: pool3
    2.6e-7 relative at 299x299, the per-position sFID tap 2.4e-6); the folded form holds no
    ``bn`` parameters."""
    import copy

    torch.manual_seed(3)
    net = random_inception(seed=3)
    for module in net.modules():
        if hasattr(module, "running_var"):
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_(0.0, 0.1)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0.0, 0.1)
    x = torch.rand(2, 3, 160, 123, generator=torch.Generator().manual_seed(4)) * 255.0
    taps = ("64", "spatial", "pool3", "logits")
    for dtype, rtol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        plain = copy.deepcopy(net).to(dtype)
        folded = copy.deepcopy(net).to(dtype).fold_batch_norms()
        assert not any(".bn." in k for k in folded.state_dict())
        with torch.inference_mode():
            want, got = plain(x.to(dtype), taps=taps), folded(x.to(dtype), taps=taps)
        for tap in taps:
            scale = want[tap].abs().max()
            assert ((got[tap] - want[tap]).abs().max() / scale).item() < rtol, (tap, dtype)
