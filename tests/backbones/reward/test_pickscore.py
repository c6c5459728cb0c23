"""PickScore end to end on a tiny CLIP in the HF-cache layout of the pinned preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genmetrics.backbones.clip import hf
from genmetrics.backbones.registry import BackboneOptions, create_backbone
from genmetrics.backbones.reward.pickscore import PickScoreBackbone
from genmetrics.weights.store import sha256_file
from tests.backbones.clip.test_hf_loading import fake_hub_cache

pytest.importorskip("transformers")


@pytest.fixture()
def tiny_pickscore(tmp_path, monkeypatch):
    """The 'pickscore' preset pointed at a tiny random CLIP in a fake HF cache."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    commit = "c" * 40
    snap = fake_hub_cache(cache, "tiny/pickscore", commit, seed=5)
    real = hf.HF_CLIP_PRESETS["pickscore"]
    preset = hf.HfClipPreset("pickscore", "tiny/pickscore", commit,
                             sha256_file(snap / "model.safetensors"),
                             description=real.description, processor_repo=real.processor_repo)
    monkeypatch.setitem(hf.HF_CLIP_PRESETS, "pickscore", preset)
    return snap


def test_pickscore_backbone_outputs(tiny_pickscore) -> None:
    bb = create_backbone("pickscore", BackboneOptions(offline=True))
    assert isinstance(bb, PickScoreBackbone)
    out = bb.forward(np.stack([bb.preprocess(np.full((30, 40, 3), 90, np.uint8))] * 2))
    assert out["embed"].shape == (2, 16)
    np.testing.assert_allclose(out["logit_scale"][:, 0], np.exp(3.0), rtol=1e-6)
    assert bb.manifest()["processor"] == "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


def test_pickscore_evaluate_matches_reference_code(tiny_pickscore, tmp_path) -> None:
    """The metric through ``evaluate`` equals PickScore's reference computation on the same
    model: processor pixels → get_image_features, normalise, logit_scale.exp() * text @ image."""
    from transformers import CLIPModel

    import genmetrics

    rng = np.random.default_rng(3)
    folder = tmp_path / "imgs"
    folder.mkdir()
    prompts = {"a": "a cat on a sofa", "b": "a red dog", "c": "a cat on a sofa"}
    from PIL import Image

    arrays = {}
    for name in prompts:
        arrays[name] = rng.integers(0, 256, (37, 52, 3), dtype=np.uint8)
        Image.fromarray(arrays[name]).save(folder / f"{name}.png")
    manifest = tmp_path / "prompts.jsonl"
    manifest.write_text("".join(json.dumps({"image": f"{k}.png", "prompt": v}) + "\n" for k, v in prompts.items()))
    res = genmetrics.evaluate(str(folder), metrics=["pickscore"], prompts=str(manifest), device="cpu",
                              offline=True, cache=False)
    model = CLIPModel.from_pretrained(tiny_pickscore).eval()
    pre = hf.HfPreprocess.from_config(json.loads((tiny_pickscore / "preprocessor_config.json").read_text()), 24)
    from genmetrics.backbones.clip.tokenizer import tokenize

    expected = []
    with torch.no_grad():
        for name, prompt in prompts.items():
            img = model.get_image_features(pixel_values=torch.from_numpy(hf.hf_clip_preprocess(arrays[name], pre))[None])
            txt = model.get_text_features(input_ids=tokenize([prompt])[0])
            img = getattr(img, "pooler_output", img)
            txt = getattr(txt, "pooler_output", txt)
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            expected.append(float(model.logit_scale.exp() * (txt @ img.T)[0, 0]))
    got = [row["pickscore"] for row in res.per_image]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert res["pickscore"] == pytest.approx(np.mean(expected), abs=1e-4)
    assert res.metrics["pickscore"].extra["logit_scale_exp"] == pytest.approx(np.exp(3.0), rel=1e-6)
