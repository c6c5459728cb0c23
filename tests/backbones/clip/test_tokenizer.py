"""CLIP BPE tokenizer vs transformers' CLIPTokenizer built offline from the same vocabulary."""

from __future__ import annotations

import json

import pytest

from genmetrics.backbones.clip.tokenizer import (
    CONTEXT_LENGTH,
    VOCAB_SIZE,
    ClipTokenizer,
    build_vocab,
    read_merges,
    tokenize,
)

PROMPTS = [
    "a photo of a cat",
    "A Photo Of A CAT, sitting on the mat!!!",
    "It's a dog's life; we'll see what they've done (isn't it?)",
    "3.14159 apples cost $42 -- 100% off, 2024-01-31 at 12:30pm",
    "Café naïve façade — résumé, déjà vu, Zoë",
    "cafe\u0301 with a decomposed accent",
    "東京タワー at night, 夜景 and ソウル",
    "emoji party 🎉🐱👍🏽 and ♥ ★ ✓",
    "  lots   of\twhitespace\n\nhere  ",
    "hyphen-ated under_score slash/path #hashtag @mention",
    "a very long prompt about " + " ".join(f"item{i} and colour {i}" for i in range(60)),
]


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    merges = read_merges()
    vocab = build_vocab(merges)
    folder = tmp_path_factory.mktemp("clip_vocab")
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))


def test_vocabulary_layout() -> None:
    merges = read_merges()
    vocab = build_vocab(merges)
    assert len(merges) == 48894 and len(vocab) == VOCAB_SIZE
    assert vocab[-2:] == ["<|startoftext|>", "<|endoftext|>"]


def test_matches_transformers(hf_tokenizer) -> None:
    ids, truncated = tokenize(PROMPTS)
    assert ids.shape == (len(PROMPTS), CONTEXT_LENGTH)
    for prompt, row, cut in zip(PROMPTS, ids.tolist(), truncated, strict=True):
        ref = hf_tokenizer(prompt)["input_ids"]
        assert cut == (len(ref) > CONTEXT_LENGTH), prompt
        if cut:
            assert row[:-1] == ref[: CONTEXT_LENGTH - 1] and row[-1] == VOCAB_SIZE - 1
        else:
            assert row == ref + [0] * (CONTEXT_LENGTH - len(ref)), prompt
    assert truncated[-1] and not any(truncated[:-1])


def test_known_ids() -> None:
    ids, _ = tokenize("a photo of a cat")
    assert ids[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert ids[0, 7:].eq(0).all()


def test_truncation_boundary() -> None:
    tok = ClipTokenizer()
    ids, truncated = tok.tokenize(["a " * 75, "a " * 76])
    assert truncated == [False, True]
    assert ids[0, 76].item() == tok.eot and ids[0, 75].item() == tok.encode("a")[0]
    assert ids[1, 76].item() == tok.eot and (ids[1] == tok.eot).sum() == 1


def test_cleaning() -> None:
    tok = ClipTokenizer()
    assert tok.encode("Fish &amp;amp; Chips") == tok.encode("fish & chips")
    assert tok.encode("  A\n\tB ") == tok.encode("a b")
