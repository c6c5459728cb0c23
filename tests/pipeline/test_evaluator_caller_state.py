"""The Evaluator leaves the caller's process as it found it: global random streams, grad mode,
cuDNN/TF32 and other numeric switches, threads — even when a backbone changes them — and the
caller's model; autocast around update() does not reach its networks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import genmetrics
from genmetrics.pipeline.caller_state import snapshot
from tests.fakes import PixelBackbone
from tests.pipeline.evaluator_helpers import images, light_inception


class MessyBackbone(PixelBackbone):
    """A backbone that draws from every global generator and flips every switch it can."""

    def forward(self, batch):
        torch.manual_seed(999)
        np.random.seed(1)
        random.seed(2)
        torch.rand(3), np.random.rand(), random.random()
        torch.backends.cudnn.benchmark = not torch.backends.cudnn.benchmark
        torch.backends.cudnn.deterministic = not torch.backends.cudnn.deterministic
        torch.set_float32_matmul_precision("medium")
        torch.set_num_threads(1)
        torch.set_grad_enabled(True)
        return super().forward(batch)


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if key == "numpy_random":
            assert x[0] == y[0] and np.array_equal(x[1], y[1]) and x[2:] == y[2:]
        elif key == "torch_random":
            assert torch.equal(x, y)
        elif key == "cuda_random":
            assert all(torch.equal(p, q) for p, q in zip(x, y, strict=True))
        else:
            assert x == y, key


@pytest.mark.parametrize("grad", [True, False])
def test_every_call_leaves_the_callers_state(grad):
    torch.manual_seed(5)
    np.random.seed(6)
    random.seed(7)
    model = torch.nn.Linear(4, 2).double().train()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    threads = torch.get_num_threads()
    with torch.set_grad_enabled(grad):
        before = snapshot()
        ev = genmetrics.Evaluator("fid,kid,is", backbones={"inception": MessyBackbone()},
                                  device="cpu", cache=False, kid_subset_size=2, is_splits=1)
        _same(before, snapshot())
        for call in (
            lambda: ev.update(torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))),
            lambda: ev.update(images(3, 1), real=True),
            ev.compute,
            ev.state_dict,
            lambda: ev.load_state_dict(ev.state_dict()),
            lambda: pytest.raises(genmetrics.UserError, ev.update, torch.full((1, 3, 8, 8), float("nan"))),
            ev.reset,
        ):
            call()
            _same(before, snapshot())
        assert torch.is_grad_enabled() is grad
    assert torch.get_num_threads() == threads
    # the caller's random streams go on where they were: the draws made without the Evaluator
    drawn = (torch.rand(2), np.random.rand(), random.random())
    torch.set_rng_state(before["torch_random"])
    np.random.set_state(before["numpy_random"])
    random.setstate(before["python_random"])
    assert torch.equal(drawn[0], torch.rand(2)) and drawn[1:] == (np.random.rand(), random.random())
    assert model.training and all(p.dtype == torch.float64 and p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


def test_autocast_around_update_does_not_reach_the_networks(tmp_path):
    bb = light_inception(tmp_path)
    x = torch.rand(4, 3, 30, 30, generator=torch.Generator().manual_seed(3))
    plain = genmetrics.Evaluator("kid", backbones={"inception": bb}, device="cpu", cache=False)
    plain.update(x)
    cast = genmetrics.Evaluator("kid", backbones={"inception": bb}, device="cpu", cache=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast.update(x)
        assert torch.is_autocast_enabled("cpu")
    a, b = plain.state_dict()["generated"]["rows"][0]["rows"], cast.state_dict()["generated"]["rows"][0]["rows"]
    assert a.dtype == torch.float32 and torch.equal(a, b)
