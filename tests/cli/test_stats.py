"""``genmetrics stats --features`` then ``evaluate --reference stats.npz``: the same numbers as
``evaluate --reference REAL`` (real FID Inception architecture and a tiny DINOv2, random
weights), and every way of using a file made for something else is one refusal line."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from genmetrics.backbones.dinov2.backbone import Dinov2Backbone, build_model  # noqa: E402
from genmetrics.backbones.dinov2.configs import tiny_arch  # noqa: E402
from genmetrics.backbones.inception.backbone import InceptionBackbone  # noqa: E402
from genmetrics.cli.app import main  # noqa: E402
from genmetrics.features import reference  # noqa: E402
from tests.backbones.dinov2.reference import random_original_state_dict  # noqa: E402
from tests.fakes import patch_backbones, write_images  # noqa: E402

DINO = "dinov2-vit-s14"
REL = 1e-9


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Two random FID Inception weight files (seeds 5 and 6) and two tiny DINOv2 state dicts."""
    from safetensors.torch import save_file

    from tests.backbones.inception.test_network import random_inception

    folder = tmp_path_factory.mktemp("weights")
    inception = []
    for seed in (5, 6):
        path = folder / f"inception-{seed}.safetensors"
        save_file({k: v.contiguous() for k, v in random_inception(seed=seed).state_dict().items()}, path)
        inception.append(path)
    arch = tiny_arch()
    dino = [random_original_state_dict(arch.hidden_size, arch.layers, arch.swiglu, arch.mlp_hidden,
                                       seed=seed) for seed in (0, 1)]
    return {"inception": inception, "dino": dino, "arch": arch}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    write_images(root / "gen", 9, seed=1, size=(40, 56))
    write_images(root / "real", 10, seed=2, size=(48, 40))
    return root / "gen", root / "real"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def networks(monkeypatch, weights, home, one_torch_thread):
    """Install the random networks as the registered ``inception`` and ``dinov2-vit-s14``;
    ``use(inception=i, dino=j)`` switches to another weights file (as after an upgrade). The
    tests share one feature cache (keyed by weights and protocol) so each image runs through
    each network once per module."""
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    chosen = {"inception": 0, "dino": 0}

    def create(name, options):
        if name == "inception":
            return InceptionBackbone(options, weights_path=str(weights["inception"][chosen["inception"]]))
        if name == DINO:
            arch, j = weights["arch"], chosen["dino"]
            return Dinov2Backbone(DINO, arch, lambda: build_model(arch, weights["dino"][j]),
                                  f"{j}d" * 32, options.dtype, options.device)
        raise AssertionError(f"unexpected backbone {name}")

    patch_backbones(monkeypatch, create)

    def use(inception: int = 0, dino: int = 0) -> None:
        chosen.update(inception=inception, dino=dino)

    return use


def _json(capsys, args: list[str]) -> dict:
    capsys.readouterr()
    code = main([*args, "--format", "json", "--device", "cpu", "--batch-size", "4"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _error(capsys, args: list[str]) -> str:
    capsys.readouterr()
    assert main([*args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _stats(capsys, real, out, *extra: str) -> None:
    capsys.readouterr()
    code = main(["stats", str(real), "--out", str(out), "--device", "cpu", "--batch-size", "4", *extra])
    assert code == 0, capsys.readouterr().err


def _same(a: dict, b: dict, names) -> None:
    for name in names:
        x, y = a["metrics"][name]["value"], b["metrics"][name]["value"]
        assert np.isfinite(x) and x > 0, name
        assert y == pytest.approx(x, rel=REL, abs=0), name


@pytest.mark.slow
def test_inception_stats_give_the_numbers_of_the_images(sets, networks, tmp_path, capsys):
    """(tf1, the ADM evaluator's protocol; the FD of 2048-d statistics costs seconds, so the
    other tests reuse these features and distances through the shared cache)"""
    gen, real = sets
    protocol = "tf1"
    out = tmp_path / "s.npz"
    _stats(capsys, real, out, "--features", "inception", "--protocol", protocol)
    ref = reference.read_reference_stats(out)
    assert ref.spaces == [("inception", "pool3"), ("inception", "spatial")]
    for space, dim in ((("inception", "pool3"), 2048), (("inception", "spatial"), 2023)):
        m = ref.manifest_for(*space)
        assert (m["backbone"], m["output"], m["protocol"], m["dim"], m["n"]) == (*space, protocol, dim, 10)
        assert len(m["weights_sha256"]) == 64 and m["key"].startswith("inception-tf20151205/")
    args = ["evaluate", str(gen), "--metrics", "fid,sfid", "--protocol", protocol]
    from_images = _json(capsys, [*args, "--reference", str(real)])
    from_file = _json(capsys, [*args, "--reference", str(out)])
    _same(from_images, from_file, ("fid", "sfid"))
    assert from_file["counts"]["reference"] == 10
    assert from_file["manifest"]["reference_manifest"]["feature_space"] == "inception:pool3"
    for name, output in (("fid", "pool3"), ("sfid", "spatial")):  # each number names its space
        space = from_file["metrics"][name]["features"]
        assert (space["backbone"], space["output"], space["protocol"]) == ("inception", output, protocol)
        assert space["weights_sha256"] == ref.manifest["weights_sha256"]


def test_fd_dinov2_stats_give_the_numbers_of_the_images(sets, networks, tmp_path, capsys):
    gen, real = sets
    out = tmp_path / "dino.npz"
    _stats(capsys, real, out, "--features", DINO)
    ref = reference.read_reference_stats(out)
    assert ref.spaces == [(DINO, "cls")]
    m = ref.manifest
    assert (m["feature_space"], m["dim"], m["n"], m["weights_sha256"]) == (f"{DINO}:cls", 32, 10, "0d" * 32)
    assert "dgm-eval" in m["preprocess"]
    args = ["evaluate", str(gen), "--metrics", "fd", "--features", DINO]
    from_file = _json(capsys, [*args, "--reference", str(out)])
    _same(_json(capsys, [*args, "--reference", str(real)]), from_file, ("fd",))
    space = from_file["metrics"]["fd"]["features"]
    assert (space["backbone"], space["output"], space["weights_sha256"]) == (DINO, "cls", "0d" * 32)
    assert space["preprocess"].startswith("dgm-eval")


@pytest.mark.slow
def test_two_spaces_in_one_file_serve_one_evaluation(sets, networks, tmp_path, capsys):
    gen, real = sets
    out = tmp_path / "both.npz"
    _stats(capsys, real, out, "--features", f"inception,{DINO}", "--protocol", "tf1")
    ref = reference.read_reference_stats(out)
    assert ref.spaces == [("inception", "pool3"), ("inception", "spatial"), (DINO, "cls")]
    args = ["evaluate", str(gen), "--metrics", "fid,sfid,fd", "--features", DINO, "--protocol", "tf1"]
    _same(_json(capsys, [*args, "--reference", str(real)]),
          _json(capsys, [*args, "--reference", str(out)]), ("fid", "sfid", "fd"))


def test_a_file_of_another_space_is_one_line_naming_spaces_and_fix(sets, networks, tmp_path, capsys):
    gen, real = sets
    incep, dino = tmp_path / "incep.npz", tmp_path / "dino.npz"
    _stats(capsys, real, incep)
    _stats(capsys, real, dino, "--features", DINO)
    err = _error(capsys, ["evaluate", str(gen), "-r", str(incep), "-m", "fd", "--features", DINO])
    assert "holds statistics of inception:pool3, inception:spatial, not of dinov2-vit-s14:cls" in err
    assert f"genmetrics stats REAL --features {DINO}" in err
    err = _error(capsys, ["evaluate", str(gen), "-r", str(dino), "-m", "fid"])
    assert f"holds statistics of {DINO}:cls, not of inception:pool3" in err
    assert "--features inception" in err


def test_unknown_feature_space_for_stats(sets, networks, tmp_path, capsys):
    _, real = sets
    err = _error(capsys, ["stats", str(real), "--out", str(tmp_path / "x.npz"), "--features", "vgg"])
    assert "--features 'vgg' is not a feature space" in err and DINO in err
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.slow
def test_another_protocol_or_weights_is_refused(sets, networks, tmp_path, capsys):
    gen, real = sets
    out = tmp_path / "both.npz"
    _stats(capsys, real, out, "--features", f"inception,{DINO}", "--protocol", "tf1")
    err = _error(capsys, ["evaluate", str(gen), "-r", str(out), "-m", "fid,sfid"])
    assert "was made with protocol 'tf1' but this run uses 'clean'" in err
    assert "--protocol tf1" in err
    networks(inception=1)
    err = _error(capsys, ["evaluate", str(gen), "-r", str(out), "-m", "sfid", "--protocol", "tf1"])
    assert "was made with weights sha256" in err and "genmetrics stats" in err
    networks(inception=0, dino=1)
    err = _error(capsys, ["evaluate", str(gen), "-r", str(out), "-m", "fd", "--features", DINO,
                          "--protocol", "tf1"])
    assert f"was made with weights sha256 '{'0d' * 32}' but this run uses '{'1d' * 32}'" in err
    networks(inception=0, dino=0)  # the weights it was made with: accepted again
    doc = _json(capsys, ["evaluate", str(gen), "-r", str(out), "-m", "fd", "--features", DINO,
                         "--protocol", "tf1"])
    assert doc["metrics"]["fd"]["value"] > 0
