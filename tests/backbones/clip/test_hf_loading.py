"""CLIP from a Hugging Face id (through the HF cache, offline) or a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genmetrics.backbones.clip import hf
from genmetrics.backbones.clip.tokenizer import tokenize
from genmetrics.backbones.registry import BackboneOptions, create_backbone
from genmetrics.errors import UserError
from genmetrics.weights.store import sha256_file

transformers = pytest.importorskip("transformers")

PROC = {
    "crop_size": {"height": 24, "width": 24},
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.5, 0.4, 0.3],
    "image_std": [0.2, 0.25, 0.3],
    "resample": 3,
    "size": {"shortest_edge": 24},
}


def tiny_config() -> transformers.CLIPConfig:
    return transformers.CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                         hidden_act="gelu", projection_dim=16),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, image_size=24, patch_size=8,
                           hidden_act="gelu", projection_dim=16),
        projection_dim=16,
    )


def save_tiny(folder: Path, seed: int = 0, proc: dict | None = PROC) -> transformers.CLIPModel:
    torch.manual_seed(seed)
    model = transformers.CLIPModel(tiny_config()).eval()
    with torch.no_grad():
        model.logit_scale.fill_(3.0)
    model.save_pretrained(folder, safe_serialization=True)
    if proc is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(proc))
    return model


def fake_hub_cache(cache: Path, repo: str, commit: str, seed: int = 0) -> Path:
    """The HF cache layout (models--owner--name/snapshots/COMMIT, refs/main)."""
    base = cache / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    save_tiny(snap, seed)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)
    return snap


@pytest.fixture()
def hub(tmp_path, monkeypatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_folder_backbone_matches_transformers(tmp_path) -> None:
    model = save_tiny(tmp_path / "m")
    bb = create_backbone(str(tmp_path / "m"), BackboneOptions())
    assert isinstance(bb, hf.HfClipBackbone)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((40, 31), (24, 24), (17, 50))]
    batch = np.stack([bb.preprocess(im) for im in images])
    ours = bb.forward(batch)["embed"]
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=torch.from_numpy(batch))
        ref = getattr(ref, "pooler_output", ref)
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-5)
    texts = ["a photo of a cat", "two dogs"]
    ids, _ = tokenize(texts)
    with torch.no_grad():
        tref = model.get_text_features(input_ids=ids)  # causal: padding after the end token is inert
        tref = getattr(tref, "pooler_output", tref)
    np.testing.assert_allclose(bb.encode_texts(texts), tref.numpy(), atol=1e-5)
    assert bb.logit_scale == pytest.approx(np.exp(3.0), rel=1e-6)
    assert bb.weights_sha256 == sha256_file(tmp_path / "m" / "model.safetensors")
    assert bb.manifest()["preprocess"]["shortest_edge"] == 24


@pytest.mark.parametrize("shape", [(40, 31), (31, 40), (24, 24), (25, 60), (300, 203)])
def test_preprocess_matches_transformers_pil_processor(shape) -> None:
    proc_cls = getattr(transformers, "CLIPImageProcessorPil", None)
    if proc_cls is None:
        from transformers.models.clip.image_processing_pil_clip import (
            CLIPImageProcessorPil as proc_cls,
        )
    proc = proc_cls(**{k: v for k, v in PROC.items()})
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ref = proc(images=[image], return_tensors="np")["pixel_values"][0]
    ours = hf.hf_clip_preprocess(image, hf.HfPreprocess.from_config(PROC, 24))
    assert ours.shape == ref.shape == (3, 24, 24)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_crop_offset_is_floor_division() -> None:
    # 24x31 after resize: left = (31 - 24) // 2 = 3 (torchvision's round would give 4)
    image = np.zeros((24, 31, 3), np.uint8)
    image[:, 3] = 255
    pre = hf.HfPreprocess(24, 24, (0, 0, 0), (1, 1, 1))
    out = hf.hf_clip_preprocess(image, pre)
    assert out[0, 0, 0] == 1.0 and out[0, 0, 1] == 0.0


def test_hub_id_from_cache_offline(hub) -> None:
    commit = "a" * 40
    fake_hub_cache(hub, "someone/tiny-clip", commit)
    bb = create_backbone("someone/tiny-clip", BackboneOptions(offline=True))
    assert bb.revision == commit
    assert bb.manifest()["source"] == "someone/tiny-clip"
    emb = bb.forward(np.stack([bb.preprocess(np.full((30, 30, 3), 128, np.uint8))]))["embed"]
    assert emb.shape == (1, 16)


def test_hub_id_missing_offline_is_one_line(hub) -> None:
    with pytest.raises(UserError, match="offline mode is on"):
        create_backbone("nobody/absent-clip", BackboneOptions(offline=True))


def test_preset_refuses_other_bytes(hub, monkeypatch) -> None:
    fake_hub_cache(hub, "someone/pinned", "b" * 40)
    preset = hf.HfClipPreset("pinned-test", "someone/pinned", "b" * 40, "0" * 64)
    with pytest.raises(UserError, match="is not the pinned"):
        hf.create_hf_clip("pinned-test", BackboneOptions(offline=True), preset)
    no_pin = hf.HfClipPreset("pinned-test", "someone/pinned", "b" * 40, None)
    with pytest.raises(UserError, match="no pinned sha256"):
        hf.create_hf_clip("pinned-test", BackboneOptions(offline=True), no_pin)


def test_non_clip_and_bad_names(tmp_path) -> None:
    folder = tmp_path / "siglip"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "siglip"}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="not a CLIPModel"):
        hf.arch_from_config(json.loads((folder / "config.json").read_text()), str(folder))
    with pytest.raises(UserError, match="only CLIP-tokenizer"):
        hf.arch_from_config({"text_config": {"vocab_size": 250002}}, "xlm")
    assert hf.resolve_hf_clip("clip-vit-l-14") is None  # registered names are not hub ids
    assert hf.resolve_hf_clip("pickscore") is None
    assert hf.resolve_hf_clip("openai/clip-vit-large-patch14") is not None
    with pytest.raises(UserError, match="unknown backbone"):
        create_backbone("not a model", BackboneOptions())


def test_presets_are_pinned() -> None:
    for preset in hf.HF_CLIP_PRESETS.values():
        assert len(preset.revision) == 40 and int(preset.revision, 16) >= 0
        assert preset.sha256 is not None and len(preset.sha256) == 64


def test_clip_score_with_a_folder_as_clip_model(tmp_path) -> None:
    from PIL import Image

    import genmetrics

    save_tiny(tmp_path / "m")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((30, 30, 3), 60 * i, np.uint8)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"prompt {i}")
    res = genmetrics.evaluate(str(folder), metrics=["clip_score"], clip_model=str(tmp_path / "m"),
                              device="cpu", offline=True, cache=False)
    assert len(res.per_image) == 2 and np.isfinite(res["clip_score"])
    assert res.manifest["backbones"][str(tmp_path / "m")]["source"] == str(tmp_path / "m")
