"""HPD v2 workflow end to end on a scaled-down set: generate with a tiny random diffusers
pipeline (eager and a hooked variant), then `benchmark` and `compare` with a tiny HPS model of
the real layout — all through the CLI, no downloads."""

import dataclasses
import json

import pytest
import torch

from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
from genmetrics.backbones.clip.configs import tiny_arch
from genmetrics.backbones.clip.model import ClipEncoder
from genmetrics.cli.app import main
from tests.fakes import patch_backbones
from tests.generation.tiny_pipeline import build_tiny_pipeline

HOOK = '''
def darken(pipe):
    """A stand-in 'acceleration' that changes the images: scale the VAE decoder output."""
    decode = pipe.vae.decode
    def darker(*args, **kwargs):
        out = decode(*args, **kwargs)
        sample = out[0] if isinstance(out, tuple) else out.sample
        sample.mul_(0.6).sub_(0.3)
        return out
    pipe.vae.decode = darker
    return pipe
'''


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("hpd")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        build_tiny_pipeline(root / "pipe")
        (root / "hook.py").write_text(HOOK)
        common = ["--pipeline", str(root / "pipe"), "--suite", "hpdv2", "--limit-per-style", "3",
                  "--steps", "2", "--height", "32", "--width", "32", "--device", "cpu",
                  "--dtype", "fp32", "--quiet", "--offline"]
        assert main(["generate", *common, "--out", str(root / "eager")]) == 0
        assert main(["generate", *common, "--out", str(root / "hooked"),
                     "--pipeline-hook", f"{root / 'hook.py'}:darken"]) == 0
    finally:
        torch.set_num_threads(threads)
    return root


@pytest.fixture
def tiny_hps(monkeypatch):
    arch = dataclasses.replace(tiny_arch(act="gelu"), embed_dim=32)
    bb = ClipBackbone(CLIP_MODELS["hps-v2.1"], ClipEncoder.random(arch, seed=0), "cd" * 32)
    patch_backbones(monkeypatch, lambda name, opts: bb)
    return bb


def test_generate_layout(generated):
    for variant in ("eager", "hooked"):
        for style in ("anime", "concept-art", "paintings", "photo"):
            assert sorted(p.name for p in (generated / variant / style).glob("*.png")) == [
                "00000.png", "00001.png", "00002.png"]


def test_benchmark_per_style_table(generated, tiny_hps, capsys):
    code = main(["benchmark", str(generated / "eager"), "--suite", "hpdv2", "--metrics", "hps",
                 "--allow-missing", "--n-chunks", "3", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    text = json.dumps(doc)
    for style in ("anime", "concept-art", "paintings", "photo"):
        assert style in text
    assert "797" in text  # 800 − 3 prompts per style listed as missing, not silently dropped
    # without --allow-missing the missing prompts are an error (exit 2, one line)
    assert main(["benchmark", str(generated / "eager"), "--metrics", "hps"]) == 2
    err = capsys.readouterr().err
    assert "3188 of 3200" in err and err.count("\n") == 1 and "Traceback" not in err


def test_compare_eager_vs_hooked(generated, tiny_hps, capsys, tmp_path):
    code = main(["compare", str(generated / "eager"), str(generated / "eager"), str(generated / "hooked"),
                 "--names", "eager,copy,darkened", "--metrics", "hps", "--allow-missing",
                 "--similarity", "psnr,ssim", "--margin", "0.5", "--n-chunks", "3", "--format", "json", "--out", str(tmp_path / "cmp")])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    doc = json.loads(out)
    text = json.dumps(doc)
    assert "equivalent" in text  # the identical copy
    assert any(p.suffix == ".md" for p in (tmp_path / "cmp").iterdir())
    assert any(p.suffix == ".csv" for p in (tmp_path / "cmp").iterdir())
