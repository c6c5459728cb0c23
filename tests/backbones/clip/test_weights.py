"""Weight specs, the conversion in the cache and ``load_clip``."""

from __future__ import annotations

import pytest
import torch

from genmetrics.backbones.clip import configs, weights
from genmetrics.backbones.clip.configs import tiny_arch
from genmetrics.backbones.clip.model import ClipEncoder
from genmetrics.errors import MissingWeightsError, WeightsHashError
from genmetrics.weights.store import WeightSpec, import_weights, sha256_file, weight_specs
from tests.backbones.clip.reference import ReferenceCLIP, randomize


def test_specs_are_pinned() -> None:
    specs = weights.clip_weight_specs()
    names = [s.name for s in specs]
    assert len(names) == len(set(names)) == len(weights.CLIP_MODELS) + len(weights.AESTHETIC_HEADS)
    assert set(weights.CLIP_MODELS) | set(weights.AESTHETIC_HEADS) == set(names)
    for spec in specs:
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.convert is not None and spec.filename.endswith(".safetensors")
        assert spec.url or spec.hf_repo
        if spec.url and "openaipublic" in spec.url:
            assert spec.url.split("/")[-2] == spec.sha256  # OpenAI put the sha256 in the path
    for name, info in weights.CLIP_MODELS.items():
        assert info.arch in configs.ARCHS and info.preprocess in ("clip", "hps"), name


def test_register(monkeypatch) -> None:
    from genmetrics.weights import store

    monkeypatch.setattr(store, "_REGISTRY", {})  # the catalog registered them already
    weights.register_clip_weights()
    assert "hps-v2.1" in weight_specs()


def test_missing_offline_names_the_import_command() -> None:
    with pytest.raises(MissingWeightsError, match="genmetrics weights import clip-vit-l-14-openai"):
        weights.load_clip("clip-vit-l-14-openai", offline=True)


def test_load_clip_from_imported_checkpoint(tmp_path, monkeypatch) -> None:
    """An original-layout checkpoint goes through import → convert → safetensors → load_clip."""
    arch = tiny_arch(act="gelu")
    ref = randomize(ReferenceCLIP(arch))
    src = tmp_path / "tiny_openclip.pt"
    torch.save({"state_dict": {k: v.half() for k, v in ref.state_dict().items()}}, src)
    spec = WeightSpec(
        name="clip-tiny-test",
        filename="clip-tiny-test.safetensors",
        sha256=sha256_file(src),
        url="https://example.invalid/tiny.pt",
        convert=weights._convert_clip,
    )
    monkeypatch.setitem(configs.ARCHS, "tiny", arch)
    monkeypatch.setitem(weights.CLIP_MODELS, "clip-tiny-test", weights.ClipModelInfo("tiny", "hps"))
    monkeypatch.setattr(weights, "clip_weight_spec", lambda name: spec)
    import_weights(spec, src)
    model = weights.load_clip("clip-tiny-test", dtype=torch.float64, offline=True)
    assert isinstance(model, ClipEncoder) and model.dtype == torch.float64

    ref64 = ReferenceCLIP(arch).double().eval()
    ref64.load_state_dict({k: v.half().double() for k, v in ref.state_dict().items()})
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, 32, 32, generator=gen, dtype=torch.float64)
    ids = torch.zeros(2, 77, dtype=torch.long)
    ids[:, 0], ids[:, 1:4], ids[0, 4], ids[1, 1:9], ids[1, 9] = 49406, 320, 49407, 1125, 49407
    with torch.no_grad():
        assert (model.encode_image(pixels) - ref64.encode_image(pixels)).abs().max() < 1e-10
        assert (model.encode_text(ids) - ref64.encode_text(ids)).abs().max() < 1e-10


def _flip_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_load_clip_hashes_the_file_on_every_load(tmp_path, monkeypatch) -> None:
    arch = tiny_arch(act="gelu")
    src = tmp_path / "tiny.pt"
    torch.save({"state_dict": randomize(ReferenceCLIP(arch)).state_dict()}, src)
    spec = WeightSpec(name="clip-tiny-test", filename="clip-tiny-test.safetensors",
                      sha256=sha256_file(src), url="https://example.invalid/tiny.pt",
                      convert=weights._convert_clip)
    monkeypatch.setitem(configs.ARCHS, "tiny", arch)
    monkeypatch.setitem(weights.CLIP_MODELS, "clip-tiny-test", weights.ClipModelInfo("tiny", "clip"))
    monkeypatch.setattr(weights, "clip_weight_spec", lambda name: spec)
    path = import_weights(spec, src).path
    weights.load_clip("clip-tiny-test", offline=True)
    _flip_byte(path)
    with pytest.raises(WeightsHashError, match="genmetrics weights download clip-tiny-test"):
        weights.load_clip("clip-tiny-test", offline=True)


def test_aesthetic_head_hashes_the_file_on_every_load() -> None:
    from genmetrics.backbones.aesthetic import load_aesthetic_head
    from tests.conftest import shared_file

    name = "aesthetic-laion-v1-b32"
    path = import_weights(weights.clip_weight_spec(name),
                          shared_file("weights/aesthetic/sa_0_4_vit_b_32_linear.pth")).path
    load_aesthetic_head(name, offline=True)
    _flip_byte(path)
    with pytest.raises(WeightsHashError, match=name):
        load_aesthetic_head(name, offline=True)
