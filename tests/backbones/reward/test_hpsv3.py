"""HPSv3 on transformers' Qwen2-VL vs a plain re-statement of the original reward model
(tiny random config), its preprocessing vs transformers' Qwen2-VL image processor, the
checkpoint key mapping on tiny checkpoints of both original layouts, and extraction."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from genmetrics.backbones.reward import hpsv3
from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest, extract_features
from genmetrics.sources.items import items_from
from tests.backbones.reward.hpsv3_reference import original_model, tiny_tokenizer_json

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

ARCH = hpsv3.tiny_arch()
WORDS = "a cat dog on the red sofa photo of sky sea You are helpful assistant. Please".split()


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tiny_tokenizer_json(tmp_path_factory.mktemp("tok") / "tokenizer.json", WORDS)
    return hpsv3.PromptTokenizer(path, ARCH)


@pytest.fixture(scope="module")
def models():
    orig = original_model(ARCH, seed=3)
    net = hpsv3.build_network(ARCH, attn="eager")
    net.load_state_dict(hpsv3.convert_state_dict(orig.state_dict()), strict=True)
    return orig, net.eval()


def _images(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, s, dtype=np.uint8) for s in ((40, 70, 3), (64, 64, 3), (90, 31, 3))]


def test_smart_resize_matches_transformers_within_its_range() -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(1024, 1024), (512, 768), (1080, 1920), (300, 4000), (37, 52), (448, 448)]:
        assert hpsv3.smart_resize(h, w) == smart_resize(h, w, 28, hpsv3.PIXELS, hpsv3.PIXELS)
    assert hpsv3.smart_resize(1024, 1024) == (448, 448)
    with pytest.raises(UserError, match="aspect"):
        hpsv3.smart_resize(10, 2100)
    for h, w in [(5, 1000), (1000, 6), (1, 199), (3000, 2999)]:
        nh, nw = hpsv3.smart_resize(h, w)
        assert nh * nw <= hpsv3.canvas_pixels(hpsv3.PIXELS)


def test_patchify_matches_transformers_image_processor() -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    proc = Qwen2VLImageProcessorPil()
    for image in _images():
        resized = hpsv3.resize_image(image, ARCH.pixels)
        ours, grid = hpsv3.patchify(resized)
        ref = proc(images=[resized], return_tensors="np")
        assert tuple(ref["image_grid_thw"][0]) == grid
        np.testing.assert_allclose(ours, ref["pixel_values"], atol=1e-5)


def test_network_matches_original_forward(models, tok) -> None:
    orig, net = models
    bb = hpsv3.HPSv3Backbone(net, tok, "0" * 64)
    images = _images()
    prompts = ["a cat on the red sofa", "dog", "photo of a red dog on the sofa of the sky"]
    batch = np.stack([bb.preprocess(im) for im in images])
    pixels, grids, ids, mask = bb.inputs(batch, prompts)
    assert int(mask.sum(1).min()) < ids.shape[1]  # rows of different length: right padding used
    with torch.no_grad():
        ref = orig.reward(ids, mask, pixels, grids)
        ours = net(pixels, grids, ids, mask)
    assert ref.shape == (3, 2)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5, rtol=1e-5)
    out = bb.forward_prompted(batch, prompts)
    np.testing.assert_allclose(out["reward"][:, 0], ref[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["sigma"][:, 0], ref[:, 1].numpy(), atol=1e-5)
    # one sample at a time (no padding) gives the same as the batch
    for i in range(3):
        alone = bb.forward_prompted(batch[i : i + 1], prompts[i : i + 1])["reward"][0, 0]
        assert alone == pytest.approx(float(ref[i, 0]), abs=1e-5)
    # the texts: chat template, instruction with the prompt, one <|Reward|> per row
    text = hpsv3.chat_text("a cat", 6)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    assert text.count("<|image_pad|>") == 6 and text.endswith("END\n<|im_end|>\n<|im_start|>assistant\n")
    assert "Textual prompt - a cat\n\n\n\nPlease provide the overall ratings of this image: <|Reward|>" in text
    assert ((ids == ARCH.reward_token_id).sum(1) == 1).all()


def test_converter_both_layouts_and_file(models, tok, tmp_path) -> None:
    from safetensors.torch import save_file

    orig, net = models
    new_layout = {k: v.contiguous() for k, v in orig.state_dict().items()}
    assert "lm_head.weight" in new_layout and "model.visual.patch_embed.proj.weight" in new_layout
    old_layout = {}
    for k, v in new_layout.items():
        if k.startswith("model.visual."):
            old_layout["visual." + k[len("model.visual."):]] = v
        elif k.startswith("model.language_model."):
            old_layout["model." + k[len("model.language_model."):]] = v
        else:
            old_layout[k] = v
    a, b = hpsv3.convert_state_dict(new_layout), hpsv3.convert_state_dict(old_layout)
    assert a.keys() == b.keys() == net.state_dict().keys()
    assert "lm_head.weight" not in a and "rm_head.5.weight" in a
    with pytest.raises(UserError, match="unexpected HPSv3 checkpoint key 'head.w'"):
        hpsv3.convert_state_dict({"head.w": torch.zeros(1)})
    bb_ref = hpsv3.HPSv3Backbone(net, tok, "0" * 64)
    batch = np.stack([bb_ref.preprocess(im) for im in _images(1)])
    prompts = ["a cat", "the sky", "sea"]
    want = bb_ref.forward_prompted(batch, prompts)["reward"]
    for name, sd in (("new", new_layout), ("old", old_layout)):
        path = tmp_path / f"{name}.safetensors"
        save_file(sd, str(path))
        loaded = hpsv3.load_network(path, ARCH, attn="eager")
        got = hpsv3.HPSv3Backbone(loaded, tok, "0" * 64).forward_prompted(batch, prompts)["reward"]
        np.testing.assert_allclose(got, want, atol=1e-5)
    bad = dict(new_layout)
    bad["model.language_model.embed_tokens.weight"] = torch.zeros(10, ARCH.hidden)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="token embeddings"):
        hpsv3.load_network(tmp_path / "bad.safetensors", ARCH)


def test_prompt_conditioned_extraction(models, tok) -> None:
    _, net = models
    bb = hpsv3.HPSv3Backbone(net, tok, "a" * 64)
    images = _images(2)
    items = items_from([images[0], images[0], images[2]])
    prompts = ["a cat", "a red dog", "the sea"]
    feats = extract_features(items, {"hpsv3": bb}, [FeatureRequest("hpsv3", "reward"),
                                                    FeatureRequest("hpsv3", "sigma")],
                             prompts=prompts, batch_size=2)
    r = feats.array("hpsv3", "reward")[:, 0]
    assert abs(r[0] - r[1]) > 1e-7
    for i, im in enumerate([images[0], images[0], images[2]]):
        alone = bb.forward_prompted(np.stack([bb.preprocess(im)]), [prompts[i]])["reward"][0, 0]
        assert r[i] == pytest.approx(alone, abs=1e-5)


def test_tokenizer_checks_ids_and_weights_refused(tmp_path) -> None:
    path = tiny_tokenizer_json(tmp_path / "t.json", WORDS)
    with pytest.raises(UserError, match=re.escape("<|Reward|> has id 63")):
        hpsv3.PromptTokenizer(path, hpsv3.HPSv3Arch())
    from genmetrics.backbones.registry import BackboneOptions, create_backbone

    with pytest.raises(UserError, match="no sha256"):
        create_backbone("hpsv3", BackboneOptions(offline=True))
    assert hpsv3.HPSv3Backbone.runtime_dtype("cuda:0", "fp32") == "bf16"
    assert hpsv3.HPSv3Backbone.runtime_dtype("cpu", "fp32") == "fp32"
