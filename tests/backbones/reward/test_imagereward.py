"""ImageReward on transformers' BLIP parts vs a plain re-statement of the original layout;
the ImageReward.pt key converter; the 35-token prompt tokenizer; prompt-conditioned extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmetrics.backbones.reward import imagereward as ir
from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.features.extract import FeatureRequest, extract_features
from genmetrics.sources.items import items_from
from tests.backbones.reward.reference import random_original_state, reference_reward

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

ARCH = ir.tiny_arch()
WORDS = ["a", "cat", "dog", "##s", "the", "on", "red", "sofa", "photo", "of"]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    # 40 ids like the tiny text config's vocabulary: specials, words, fillers; [DEC] [ENC] added after
    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    base += [f"[unused{i}]" for i in range(ARCH.vocab_size - 2 - len(base))]
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(base) + "\n")
    return path


def _net(seed=0):
    sd = random_original_state(ARCH, seed)
    net = ir.build_network(ARCH)
    net.load_state_dict(ir.convert_state_dict(sd), strict=True)
    return net.eval(), sd


def test_network_matches_original_layout(vocab) -> None:
    net, sd = _net()
    tok = ir.PromptTokenizer(vocab, max_length=12)
    ids, mask, _ = tok(["a cat on the red sofa", "dogs", "photo of a dog on a sofa"])
    pixels = torch.randn(3, 3, ARCH.image_size, ARCH.image_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = net(pixels, ids, mask).double()
        ref = reference_reward({k: v.double() if v.is_floating_point() else v for k, v in sd.items()},
                               ARCH, pixels.double(), ids, mask)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5, rtol=1e-5)
    # one image at a time (as the original's loop) gives the same as the batch
    with torch.no_grad():
        single = torch.cat([net(pixels[i : i + 1], ids[i : i + 1], mask[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(single.numpy(), ours.float().numpy(), atol=1e-5)


def test_converter_mapping_and_file(tmp_path) -> None:
    sd = random_original_state(ARCH, 3)
    out = ir.convert_state_dict(sd)
    assert "vision.embeddings.class_embedding" in out and "vision.post_layernorm.weight" in out
    assert "vision.encoder.layers.1.self_attn.projection.weight" in out
    assert "text.encoder.layer.0.crossattention.self.key.weight" in out
    assert not any("proj" in k and k.startswith("blip") for k in out)
    assert not any(k.endswith("position_ids") for k in out)
    torch.testing.assert_close(out["mlp.layers.7.weight"], sd["mlp.layers.7.weight"])
    torch.testing.assert_close(out["vision.encoder.layers.0.self_attn.qkv.bias"],
                               sd["blip.visual_encoder.blocks.0.attn.qkv.bias"])
    with pytest.raises(UserError, match="unexpected ImageReward checkpoint key"):
        ir.convert_state_dict({**sd, "blip.itm_head.weight": torch.zeros(1)})
    # the file route: torch.save (the published form) → convert → strict load
    src, dst = tmp_path / "ImageReward.pt", tmp_path / "ir.safetensors"
    torch.save(sd, src)
    ir.convert_checkpoint(src, dst)
    net = ir.load_network(dst, ARCH)
    ref, _ = _net(3)
    ids = torch.tensor([[2, 6, 7, 3]])
    px = torch.zeros(1, 3, ARCH.image_size, ARCH.image_size)
    with torch.no_grad():
        torch.testing.assert_close(net(px, ids, torch.ones_like(ids)), ref(px, ids, torch.ones_like(ids)))


def test_constants_and_spec() -> None:
    assert ir.REWARD_MEAN == 0.16717362830052426 and ir.REWARD_STD == 1.0333394966054072
    assert ir.MAX_TOKENS == 35
    spec = ir.weight_spec()
    assert spec.hf_repo == "THUDM/ImageReward" and spec.hf_filename == "ImageReward.pt"
    assert len(spec.sha256) == 64 and len(spec.hf_revision) == 40


def test_tokenizer_35_tokens_and_truncation(vocab) -> None:
    tok = ir.PromptTokenizer(vocab)
    long = " ".join(["cat"] * 40)
    ids, mask, cut = tok(["A CAT on the sofa", long])
    assert ids.shape == (2, 35)
    cls, sep = 2, 3
    assert ids[0, :7].tolist() == [cls, 5, 6, 10, 9, 12, sep]  # lowercased WordPiece
    assert ids[0, 0] == cls and mask[0].sum() == 7 and ids[0, 7:].eq(0).all()
    assert ids[1, 0] == cls and ids[1, 34] == sep and mask[1].all()
    assert cut == [False, True]
    backbone = ir.ImageRewardBackbone(ir.build_network(ARCH), tok, "0" * 64)
    assert backbone.count_truncated(["a cat", long, long]) == 1


def test_prompt_conditioned_extraction_and_cache(vocab, tmp_path) -> None:
    net, _ = _net()
    bb = ir.ImageRewardBackbone(net, ir.PromptTokenizer(vocab), "f" * 64)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (33, 33, 3), dtype=np.uint8)
    items = items_from([img, img, other])
    prompts = ["a cat on the sofa", "a red dog", "a cat on the sofa"]
    req = [FeatureRequest("imagereward", "reward")]
    store = FeatureCache(tmp_path / "f.sqlite")
    try:
        feats = extract_features(items, {"imagereward": bb}, req, cache=store, prompts=prompts, batch_size=2)
        r = feats.array("imagereward", "reward")[:, 0]
        assert feats.forwards["imagereward"] == 3
        # the same image under two prompts: two different rewards
        assert abs(r[0] - r[1]) > 1e-6
        # each equals scoring that pair alone
        for i, (im, p) in enumerate(zip([img, img, other], prompts, strict=True)):
            alone = bb.forward_prompted(np.stack([bb.preprocess(im)]), [p])["reward"][0, 0]
            assert r[i] == pytest.approx(alone, abs=1e-5)
        again = extract_features(items, {"imagereward": bb}, req, cache=store, prompts=prompts)
        assert again.forwards["imagereward"] == 0 and again.cache_hits["imagereward"] == 3
        np.testing.assert_array_equal(again.array("imagereward", "reward")[:, 0], r)
        swapped = extract_features(items, {"imagereward": bb}, req, cache=store,
                                   prompts=[prompts[1], prompts[0], prompts[2]])
        np.testing.assert_allclose(swapped.array("imagereward", "reward")[:2, 0], r[[1, 0]])
        assert swapped.forwards["imagereward"] == 0
    finally:
        store.close()
    with pytest.raises(UserError, match="needs the prompt of each image"):
        extract_features(items, {"imagereward": bb}, req)


def test_registered_and_missing_weights_offline() -> None:
    from genmetrics.backbones.registry import BackboneOptions, create_backbone
    from genmetrics.errors import MissingWeightsError
    from genmetrics.weights.store import weight_specs

    assert "imagereward" in weight_specs()
    with pytest.raises(MissingWeightsError, match="genmetrics weights import imagereward"):
        create_backbone("imagereward", BackboneOptions(offline=True))
