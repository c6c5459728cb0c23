"""Inception weights in the store: the pool3-only file, upgrading it to the full one, and
refusing a changed cached file (real fid-helper file from ../shared; skipped when absent)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.registry import BackboneOptions
from genmetrics.cli.app import main
from genmetrics.errors import WeightsHashError
from genmetrics.weights import store
from genmetrics.weights.store import get_weight_spec, read_record, sha256_file
from tests.conftest import shared_file
from tests.fakes import write_images

TS = "weights/inception/fid_inception_tf20151205_torchscript.pt"


@pytest.fixture(scope="module")
def full_source(tmp_path_factory) -> Path:
    """A synthetic pytorch-fid-form file: the real pool3 weights plus a random 1008-way fc."""
    from genmetrics.backbones.inception.convert import load_source

    _, tensors = load_source(shared_file(TS))
    g = torch.Generator().manual_seed(0)
    tensors["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    tensors["fc.bias"] = torch.zeros(1008)
    path = tmp_path_factory.mktemp("full") / "pt_inception-synthetic.pth"
    torch.save(tensors, path)
    return path


@pytest.fixture
def pool3_only(capsys) -> Path:
    path = shared_file(TS)
    assert main(["weights", "import", "inception", str(path)]) == 0
    capsys.readouterr()
    return get_weight_spec("inception").cached_path()


@pytest.fixture
def accepts_full(full_source, monkeypatch):
    """Let ``import`` accept the synthetic full file, and ``download`` fetch it."""
    spec = get_weight_spec("inception")
    alt = (*spec.alt_sha256, sha256_file(full_source))
    monkeypatch.setitem(store._REGISTRY, "inception", dataclasses.replace(spec, alt_sha256=alt))
    monkeypatch.setattr(store, "_download", lambda spec, dest: full_source)
    return full_source


def test_pool3_only_is_recorded_and_listed(pool3_only, capsys, monkeypatch):
    rec = read_record(pool3_only)
    assert rec["source_form"] == "fid-helper-torchscript" and rec["outputs"] == ["pool3"]
    assert rec["source_sha256"] == sha256_file(shared_file(TS))
    assert rec["sha256"] == sha256_file(pool3_only)
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["weights", "list"]) == 0
    assert "pool3 only" in capsys.readouterr().out
    assert main(["weights", "verify", "inception"]) == 0
    assert "fid-helper-torchscript, pool3 only" in capsys.readouterr().out


def test_is_with_pool3_only_weights_names_is_and_the_fix(pool3_only, tmp_path, capsys):
    gen = tmp_path / "gen"
    write_images(gen, 4)
    assert main(["evaluate", str(gen), "-m", "fid,is", "-r", str(gen), "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: is needs Inception's 1008-way logits ('logits_unbiased'), but "
                          "the installed inception weights (fid-helper TorchScript, pool3 only)")
    assert "'genmetrics weights download inception'" in err
    assert "'genmetrics weights import inception pt_inception-2015-12-05-6726825d.pth'" in err
    assert err.endswith("or leave is out of --metrics")


def test_download_upgrades_pool3_only_to_full(pool3_only, accepts_full, capsys, monkeypatch):
    assert main(["weights", "download", "inception"]) == 0
    assert "inception: replaced" in capsys.readouterr().out
    rec = read_record(pool3_only)
    assert rec["outputs"] == ["pool3", "logits_unbiased"] and rec["source_form"] == "pytorch-fid"
    bb = InceptionBackbone(BackboneOptions(offline=True))
    assert bb.outputs == ("pool3", "logits_unbiased", "spatial")
    assert bb.weights_sha256 == rec["sha256"]
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["weights", "list"]) == 0
    assert "pool3+logits_unbiased" in capsys.readouterr().out
    assert main(["weights", "download", "inception"]) == 0
    assert "already cached" in capsys.readouterr().out


def test_import_full_replaces_pool3_only_and_not_back(pool3_only, accepts_full, capsys):
    assert main(["weights", "import", "inception", str(accepts_full)]) == 0
    assert read_record(pool3_only)["outputs"] == ["pool3", "logits_unbiased"]
    capsys.readouterr()

    assert main(["weights", "import", "inception", str(shared_file(TS))]) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "kept the cached weights" in out and "--force" in out
    assert read_record(pool3_only)["outputs"] == ["pool3", "logits_unbiased"]

    assert main(["weights", "import", "inception", str(shared_file(TS)), "--force"]) == 0
    assert read_record(pool3_only)["outputs"] == ["pool3"]


def test_changed_inception_file_is_refused(pool3_only, tmp_path, capsys):
    data = bytearray(pool3_only.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pool3_only.write_bytes(bytes(data))

    assert main(["weights", "verify", "inception"]) == 1
    assert capsys.readouterr().out.startswith("inception: FAILED")

    bb = InceptionBackbone(BackboneOptions(offline=True))  # cheap: identity from the record
    with pytest.raises(WeightsHashError, match="genmetrics weights download inception"):
        _ = bb.net

    gen, real = tmp_path / "gen", tmp_path / "real"
    write_images(gen, 3, seed=1)
    write_images(real, 3, seed=2)
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "--no-cache"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(pool3_only) in errors[0] and "recorded" in errors[0]
