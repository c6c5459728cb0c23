"""Weight conversion: every published form -> one safetensors file in our naming, and back in."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from genmetrics.backbones.inception import convert
from genmetrics.backbones.inception.network import FIDInceptionV3
from genmetrics.errors import UserError
from tests.backbones.inception.test_network import random_inception


@pytest.fixture(scope="module")
def source_net() -> FIDInceptionV3:
    net = random_inception(seed=3)
    with torch.no_grad():  # non-trivial batch-norm statistics, scale left at 1 (TF scale=False)
        for name, tensor in net.state_dict().items():
            if name.endswith(("bn.bias", "bn.running_mean")):
                tensor.normal_(0.0, 0.1)
            elif name.endswith("bn.running_var"):
                tensor.uniform_(0.5, 1.5)
    return net


def _outputs(net: FIDInceptionV3, taps=("pool3",)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    with torch.inference_mode():
        return net(torch.rand(1, 3, 96, 96, generator=g) * 255.0, taps=taps)


def _assert_same_weights(net: FIDInceptionV3, tensors: dict[str, torch.Tensor]) -> None:
    expected = net.state_dict()
    assert set(tensors) == set(expected)
    for name, value in expected.items():
        assert torch.equal(tensors[name], value), name


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchscript_names(net: FIDInceptionV3) -> dict[str, torch.Tensor]:
    """``net``'s weights under NVIDIA's TorchScript names (``layers.mixed.tower.conv.beta``...)."""
    sd = net.state_dict()
    out: dict[str, torch.Tensor] = {}
    for ts, ours in convert._torchscript_layer_map().items():
        out[f"{ts}.weight"] = sd[f"{ours}.conv.weight"]
        out[f"{ts}.beta"] = sd[f"{ours}.bn.bias"]
        out[f"{ts}.mean"] = sd[f"{ours}.bn.running_mean"]
        out[f"{ts}.var"] = sd[f"{ours}.bn.running_var"]
    out["output.weight"] = sd["fc.weight"]
    out["output.bias"] = sd["fc.bias"]
    return out


def _write_torchscript(net: FIDInceptionV3, path: Path) -> None:
    """Script a module tree holding ``net``'s weights the way NVIDIA's file names them."""
    root = _Holder()
    nodes: dict[str, nn.Module] = {"": root}

    def node(dotted: str) -> nn.Module:
        if dotted not in nodes:
            parent, _, leaf = dotted.rpartition(".")
            nodes[dotted] = _Holder()
            node(parent).add_module(leaf, nodes[dotted])
        return nodes[dotted]

    for name, value in _torchscript_names(net).items():
        owner, _, attr = name.rpartition(".")
        if attr == "weight":
            setattr(node(owner), attr, nn.Parameter(value))
        else:
            node(owner).register_buffer(attr, value)
    torch.jit.script(root).save(str(path))


def test_known_sources_are_well_formed():
    for digest, form in convert.KNOWN_SOURCES.items():
        assert len(digest) == 64 and int(digest, 16) >= 0
        assert form in convert.FORMS
    assert "pytorch-fid" in convert.KNOWN_SOURCES.values()
    assert "fid-helper-torchscript" in convert.KNOWN_SOURCES.values()


def test_pytorch_fid_state_dict_round_trip(tmp_path, source_net):
    sd = dict(source_net.state_dict())
    sd["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)  # as torchvision saves it
    src = tmp_path / "pt_inception.pth"
    torch.save(sd, src, _use_new_zipfile_serialization=False)  # the 2019 release predates zip

    form, tensors = convert.load_source(src)
    assert form == "pytorch-fid"
    _assert_same_weights(source_net, tensors)

    dst = tmp_path / "out" / "inception.safetensors"
    convert.convert_inception_weights(src, dst)
    net = convert.load_inception(dst, "cpu")
    assert net.has_fc and not net.training
    _assert_same_weights(source_net, net.state_dict())
    taps = ("pool3", "logits")
    want, got = _outputs(source_net, taps), _outputs(net, taps)
    for tap in taps:
        torch.testing.assert_close(got[tap], want[tap], rtol=0, atol=0)

    # the pytorch-fid dict also loads directly into the network
    FIDInceptionV3(has_fc=True).load_state_dict(sd, strict=True)

    # our own output is accepted as a source and converts to identical bytes (deterministic)
    assert convert.load_source(dst)[0] == "genmetrics"
    again = tmp_path / "again.safetensors"
    convert.convert_inception_weights(dst, again)
    assert again.read_bytes() == dst.read_bytes()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_nvidia_torchscript_form(tmp_path, source_net):
    src = tmp_path / "inception-2015-12-05.pt"
    _write_torchscript(source_net, src)
    form, tensors = convert.load_source(src)
    assert form == "nvidia-torchscript"
    _assert_same_weights(source_net, tensors)

    dst = tmp_path / "inception.safetensors"
    convert.convert_inception_weights(src, dst)
    net = convert.load_inception(dst)
    assert net.has_fc
    taps = ("pool3", "logits_unbiased")
    want, got = _outputs(source_net, taps), _outputs(net, taps)
    for tap in taps:
        torch.testing.assert_close(got[tap], want[tap], rtol=0, atol=0)


def test_fid_helper_names_map_without_fc(source_net):
    """fid-helper wraps NVIDIA's network as ``net`` and drops the classifier."""
    names = _torchscript_names(source_net)
    wrapped = {f"net.{k}": v for k, v in names.items() if not k.startswith("output.")}
    tensors = convert.from_torchscript_tensors(wrapped)
    expected = {k: v for k, v in source_net.state_dict().items() if not k.startswith("fc.")}
    assert set(tensors) == set(expected)
    assert all(torch.equal(tensors[k], v) for k, v in expected.items())
    assert convert.validate_state_dict(tensors) is False
    with pytest.raises(UserError, match="unexpected tensor"):
        convert.from_torchscript_tensors({"layers.mixed_11.conv.weight": torch.zeros(1)})


def test_torchscript_reader_runs_no_code(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    pickle.dump({"x": Evil()}, buf, protocol=2)
    src = tmp_path / "evil.pt"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/constants.pkl", pickle.dumps(()))
        z.writestr("archive/code/__torch__/m.py", "")
    called = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: called.append(a))
    with pytest.raises(UserError, match="refusing to load"):
        convert.convert_inception_weights(src, tmp_path / "out.safetensors")
    assert called == []
    assert not (tmp_path / "out.safetensors").exists()


def test_bad_sources_raise_user_error(tmp_path, source_net):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not weights at all" * 10)
    with pytest.raises(UserError, match="not a recognised"):
        convert.convert_inception_weights(junk, tmp_path / "a.safetensors")

    with pytest.raises(UserError, match="not found"):
        convert.convert_inception_weights(tmp_path / "missing.pth", tmp_path / "b.safetensors")

    sd = dict(source_net.state_dict())
    sd["Mixed_5b.branch1x1.conv.weight"] = torch.zeros(64, 192, 3, 3)
    bad_shape = tmp_path / "bad_shape.pth"
    torch.save(sd, bad_shape)
    with pytest.raises(UserError, match="Mixed_5b.branch1x1.conv.weight has shape"):
        convert.convert_inception_weights(bad_shape, tmp_path / "c.safetensors")

    del sd["Mixed_5b.branch1x1.conv.weight"]
    missing = tmp_path / "missing_key.pth"
    torch.save(sd, missing)
    with pytest.raises(UserError, match="missing"):
        convert.convert_inception_weights(missing, tmp_path / "d.safetensors")
