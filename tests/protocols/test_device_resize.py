"""The device form of the bilinear protocols equals the host form, run through the same code
on the CPU: tf1 bit for bit, pytorch-fid within 1e-6 on the network input ((x − 128)/128)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmetrics.backbones.registry import BackboneOptions
from genmetrics.devices import float32_precision
from genmetrics.protocols.device_resize import device_part, host_part
from genmetrics.protocols.resize import resize_pytorch_fid, resize_tf1

HOST = {"tf1": resize_tf1, "pytorch-fid": resize_pytorch_fid}
SHAPES = [(37, 53), (299, 299), (512, 512), (3, 5), (700, 1301), (1000, 333)]


def _image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.mark.parametrize("protocol", ["tf1", "pytorch-fid"])
def test_device_form_equals_the_host_form_on_odd_and_large_sizes(protocol):
    images = [_image(s, n) for n, s in enumerate(SHAPES)]
    # one batch of mixed sizes (grouped by size inside) plus a repeated size
    batch = [host_part(img, 299, protocol) for img in images + images[:2]]
    got = device_part(batch, "cpu", protocol).numpy()
    for n, img in enumerate(images + images[:2]):
        want = HOST[protocol](img, 299)
        if protocol == "tf1":
            np.testing.assert_array_equal(got[n], want)
        else:
            assert np.abs(got[n] - want).max() / 128 <= 1e-6


def test_large_images_send_only_the_sampled_rows_and_columns():
    img = _image((1000, 333))
    part = host_part(img, 299, "tf1")
    assert part.pixels.shape[0] <= 2 * 299 and part.pixels.shape[1] == 333  # rows reduced only
    assert part.pixels.dtype == np.uint8


def test_inception_resizes_on_the_device_with_the_same_input(tmp_path):
    from safetensors.torch import save_file

    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.inception.network import FIDInceptionV3

    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in FIDInceptionV3().state_dict().items()}, str(path))
    images = [_image((64, 80), 1), _image((64, 80), 2), _image((50, 50), 3)]
    for protocol in ("tf1", "pytorch-fid"):
        host = InceptionBackbone(BackboneOptions(protocol=protocol), str(path))
        dev = InceptionBackbone(
            BackboneOptions(protocol=protocol, extra={"resize_on_device": True}), str(path))
        assert not host.resize_on_device and dev.resize_on_device
        assert dev.manifest()["resize_on"] == "device" and dev.key == host.key
        x_host = host._to_device(host.collate([host.preprocess(i) for i in images]))
        x_dev = dev._to_device(dev.collate([dev.preprocess(i) for i in images]))
        assert x_dev.is_contiguous(memory_format=torch.channels_last)
        assert (x_host - x_dev).abs().max().item() / 128 <= 1e-6


@pytest.mark.parametrize("allow", [False, True])
def test_float32_precision_restores_the_callers_settings(allow):
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (conv.fp32_precision, matmul.fp32_precision)
    with float32_precision(allow):
        assert conv.fp32_precision == matmul.fp32_precision == ("tf32" if allow else "ieee")
    assert (conv.fp32_precision, matmul.fp32_precision) == before
    with pytest.raises(RuntimeError), float32_precision(allow):
        raise RuntimeError("inside")
    assert (conv.fp32_precision, matmul.fp32_precision) == before
