"""Reward metrics through the CLI with tiny random-weight models registered as the real names:
``evaluate --prompts --metrics imagereward,pickscore`` equals the direct model computation, and
``compare`` / ``benchmark`` treat them like ``hps`` (per-style tables, paired statistics,
verdicts; PickScore's softmax preference)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from genmetrics.backbones.reward import imagereward as ir
from genmetrics.cli.app import main
from tests.backbones.reward.reference import random_original_state
from tests.backbones.reward.test_pickscore import tiny_pickscore  # noqa: F401
from tests.comparison.helpers import write_suite
from tests.fakes import patch_backbones, real_backbone

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

ARCH = ir.tiny_arch()
WORDS = ["a", "cat", "dog", "the", "on", "red", "sofa", "photo", "of", "sky", "sea", "prompt"]
STYLES = ("sky", "sea")


@pytest.fixture
def rewards(tmp_path, monkeypatch, tiny_pickscore):  # noqa: F811
    """``imagereward`` = a tiny random ImageReward (original layout, converted) with a tiny
    vocabulary; ``pickscore`` = the pinned preset pointed at a tiny CLIP in a fake HF cache."""
    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    base += [str(i) for i in range(ARCH.vocab_size - 2 - len(base))]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(base) + "\n")
    net = ir.build_network(ARCH)
    net.load_state_dict(ir.convert_state_dict(random_original_state(ARCH, 7)), strict=True)
    tok = ir.PromptTokenizer(vocab)
    made = {}

    def create(name, options):
        if name == "imagereward":
            return made.setdefault(name, ir.ImageRewardBackbone(net, tok, "e" * 64))
        return real_backbone(name, options)

    patch_backbones(monkeypatch, create)
    monkeypatch.setenv("GENMETRICS_HOME", str(tmp_path / "home"))
    return net.eval(), tok, tiny_pickscore


def _direct_imagereward(net, tok, image: np.ndarray, prompt: str) -> float:
    from genmetrics.backbones.clip.preprocess import clip_preprocess

    ids, mask, _ = tok([prompt])
    with torch.no_grad():
        return float(net(torch.from_numpy(clip_preprocess(image, ARCH.image_size))[None], ids, mask)[0])


def _direct_pickscore(snapshot, image: np.ndarray, prompt: str) -> float:
    from transformers import CLIPModel

    from genmetrics.backbones.clip import hf
    from genmetrics.backbones.clip.tokenizer import tokenize

    model = CLIPModel.from_pretrained(snapshot).eval()
    pre = hf.HfPreprocess.from_config(json.loads((snapshot / "preprocessor_config.json").read_text()), 24)
    with torch.no_grad():
        img = model.get_image_features(pixel_values=torch.from_numpy(hf.hf_clip_preprocess(image, pre))[None])
        txt = model.get_text_features(input_ids=tokenize([prompt])[0])
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
    return float(model.logit_scale.exp() * (txt @ img.T)[0, 0])


def test_evaluate_per_image_scores_equal_direct_computation(rewards, tmp_path, capsys) -> None:
    net, tok, snapshot = rewards
    rng = np.random.default_rng(0)
    folder = tmp_path / "gen"
    folder.mkdir()
    prompts = {"a": "a cat on the red sofa", "b": "photo of a dog", "c": "a cat on the red sofa",
               "d": "the sky"}
    arrays = {}
    for name in prompts:
        arrays[name] = rng.integers(0, 256, (29 + len(name), 41, 3), dtype=np.uint8)
        Image.fromarray(arrays[name]).save(folder / f"{name}.png")
    manifest = tmp_path / "prompts.jsonl"
    manifest.write_text("".join(json.dumps({"image": f"{k}.png", "prompt": v}) + "\n"
                                for k, v in prompts.items()))
    out = tmp_path / "res"
    code = main(["evaluate", str(folder), "--prompts", str(manifest), "--metrics",
                 "imagereward,pickscore", "--device", "cpu", "--offline", "--no-cache",
                 "--format", "json", "--out", str(out), "--batch-size", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = {r["id"]: r for r in csv.DictReader(open(out / "per_image.csv"))}
    assert set(rows) == set(prompts)
    ir_expected = {k: _direct_imagereward(net, tok, arrays[k], p) for k, p in prompts.items()}
    ps_expected = {k: _direct_pickscore(snapshot, arrays[k], p) for k, p in prompts.items()}
    for k in prompts:
        assert float(rows[k]["imagereward"]) == pytest.approx(ir_expected[k], abs=1e-5)
        assert float(rows[k]["pickscore"]) == pytest.approx(ps_expected[k], abs=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    text = json.dumps(summary)
    assert "imagereward" in text and "pickscore" in text
    assert np.mean(list(ir_expected.values())) == pytest.approx(
        _metric_value(summary, "imagereward"), abs=1e-5)


def _metric_value(summary: dict, name: str) -> float:
    m = summary["metrics"][name]
    return float(m["value"] if isinstance(m, dict) else m)


def _suite_sets(tmp_path, n: int = 6):
    """Suite of 2 styles × n prompts; 'base' and 'noisy' (base plus noise) image folders."""
    suite = write_suite(tmp_path / "mini.json", {s: n for s in STYLES})
    rng = np.random.default_rng(4)
    ids = [f"{s}/{i:05d}" for s in STYLES for i in range(n)]
    base = {k: rng.integers(30, 226, (20, 26, 3), dtype=np.uint8) for k in ids}
    noisy = {k: np.clip(v.astype(int) + rng.integers(-25, 26, v.shape), 0, 255).astype(np.uint8)
             for k, v in base.items()}
    for name, arrays in (("base", base), ("noisy", noisy)):
        for k, v in arrays.items():
            p = tmp_path / name / f"{k}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(v).save(p)
    prompts = json.loads(suite.read_text())
    prompt_of = {f"{s}/{i:05d}": prompts[s][i] for s in STYLES for i in range(n)}
    return suite, ids, base, noisy, prompt_of


def test_compare_accepts_rewards_like_hps(rewards, tmp_path, capsys) -> None:
    net, tok, _ = rewards
    suite, ids, base, noisy, prompt_of = _suite_sets(tmp_path)
    code = main(["compare", str(tmp_path / "base"), str(tmp_path / "noisy"), "--suite", str(suite),
                 "--metrics", "imagereward,pickscore", "--names", "base,noisy", "--n-chunks", "3",
                 "--device", "cpu", "--offline", "--no-cache", "--format", "json",
                 "--out", str(tmp_path / "res")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    b = np.array([_direct_imagereward(net, tok, base[k], prompt_of[k]) for k in ids])
    v = np.array([_direct_imagereward(net, tok, noisy[k], prompt_of[k]) for k in ids])
    metric = doc["metrics"]["imagereward"]
    paired = metric["paired"]["noisy"]
    assert paired["n_pairs"] == len(ids)
    assert paired["styles"]["Average"]["diff"] == pytest.approx((v - b).mean(), abs=1e-5)
    sky = [i for i, k in enumerate(ids) if k.startswith("sky/")]
    assert paired["styles"]["sky"]["diff"] == pytest.approx((v - b)[sky].mean(), abs=1e-5)
    for style in (*STYLES, "Average"):
        cell = paired["styles"][style]
        assert {"p_value_ttest", "p_value_wilcoxon", "ci95"} <= set(cell)
        assert cell["verdict"] in ("better", "worse", "equivalent", "inconclusive")
    from scipy import stats

    avg = paired["styles"]["Average"]
    assert avg["p_value_ttest"] == pytest.approx(stats.ttest_rel(v, b).pvalue, rel=1e-4)
    assert avg["ci95"][0] <= avg["diff"] <= avg["ci95"][1]
    assert "pickscore" in doc["metrics"]
    pref = json.dumps(doc["metrics"]["pickscore"])
    assert "p_variant" in pref
    md = (tmp_path / "res" / "compare.md").read_text()
    assert "imagereward" in md and "| sky | sea | Average |" in md and "verdict" in md


def test_benchmark_accepts_rewards_like_hps(rewards, tmp_path, capsys) -> None:
    net, tok, _ = rewards
    suite, ids, base, _, prompt_of = _suite_sets(tmp_path)
    code = main(["benchmark", str(tmp_path / "base"), "--suite", str(suite), "--metrics",
                 "imagereward,pickscore", "--n-chunks", "3", "--device", "cpu", "--offline",
                 "--no-cache", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    cells = {c["style"]: c for c in doc["metrics"]["imagereward"]["cells"]}
    assert list(cells) == [*STYLES, "Average"]
    scores = {k: _direct_imagereward(net, tok, base[k], prompt_of[k]) for k in ids}
    for style in STYLES:
        values = [scores[k] for k in ids if k.startswith(style + "/")]
        chunks = np.array_split(np.asarray(values), 3)
        means = [c.mean() for c in chunks]
        assert cells[style]["mean"] == pytest.approx(np.mean(means), abs=1e-5)
        assert cells[style]["std"] == pytest.approx(np.std(means), abs=1e-5)
        assert cells[style]["n_prompts"] == 6
    assert cells["Average"]["mean"] == pytest.approx(np.mean(list(scores.values())), abs=1e-5)
    assert {c["style"] for c in doc["metrics"]["pickscore"]["cells"]} == {*STYLES, "Average"}


def test_hpsv3_through_evaluate_and_benchmark(tmp_path, monkeypatch, capsys) -> None:
    """A tiny random HPSv3 registered as ``hpsv3``: per-image μ equals the network's output
    on the original preprocessing, and ``benchmark`` gives its per-style table."""
    from genmetrics.backbones.reward import hpsv3
    from tests.backbones.reward.hpsv3_reference import original_model, tiny_tokenizer_json

    arch = hpsv3.tiny_arch()
    net = hpsv3.build_network(arch)
    net.load_state_dict(hpsv3.convert_state_dict(original_model(arch, 5).state_dict()))
    tok = hpsv3.PromptTokenizer(tiny_tokenizer_json(tmp_path / "tok.json", WORDS), arch)
    bb = hpsv3.HPSv3Backbone(net.eval(), tok, "d" * 64)
    patch_backbones(monkeypatch, lambda name, options: bb if name == "hpsv3" else real_backbone(name, options))
    monkeypatch.setenv("GENMETRICS_HOME", str(tmp_path / "home"))
    suite, ids, base, _, prompt_of = _suite_sets(tmp_path, n=4)
    code = main(["benchmark", str(tmp_path / "base"), "--suite", str(suite), "--metrics", "hpsv3",
                 "--n-chunks", "2", "--device", "cpu", "--no-cache", "--format", "json",
                 "--out", str(tmp_path / "res")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    rows = {r["id"]: float(r["hpsv3"]) for r in csv.DictReader(open(tmp_path / "res" / "per_image.csv"))}
    for k in ids:
        pixels, grid, input_ids, mask = bb.inputs(np.stack([bb.preprocess(base[k])]), [prompt_of[k]])
        with torch.no_grad():
            direct = float(net(pixels, grid, input_ids, mask)[0, 0])
        assert rows[k] == pytest.approx(direct, abs=1e-5)
    cells = {c["style"]: c for c in doc["metrics"]["hpsv3"]["cells"]}
    assert list(cells) == [*STYLES, "Average"]
    assert cells["Average"]["mean"] == pytest.approx(np.mean(list(rows.values())), abs=1e-5)
