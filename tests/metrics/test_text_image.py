"""Text–image metrics end to end with tiny random-weight CLIP models of the real layout."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from genmetrics import evaluate
from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
from genmetrics.backbones.clip.configs import tiny_arch
from genmetrics.backbones.clip.model import ClipEncoder
from genmetrics.backbones.clip.preprocess import clip_preprocess, hps_preprocess
from genmetrics.backbones.clip.tokenizer import tokenize
from genmetrics.errors import UserError
from tests.conftest import shared_file

PROMPTS = ["a red cube on a table", "a cat sleeping on a sofa", "an astronaut riding a horse",
           "a bowl of fruit", "a city skyline at night", "a small wooden boat"]


def _backbone(name: str, embed_dim: int = 32, seed: int = 0) -> ClipBackbone:
    act = "gelu" if name.startswith("hps") else "quick_gelu"
    arch = dataclasses.replace(tiny_arch(act=act), embed_dim=embed_dim)
    return ClipBackbone(CLIP_MODELS[name], ClipEncoder.random(arch, seed=seed), "ab" * 32)


@pytest.fixture
def captioned(tmp_path, real_photos):
    folder = tmp_path / "gen"
    folder.mkdir()
    for i, (name, photo) in enumerate(list(real_photos.items())[: len(PROMPTS)]):
        Image.fromarray(photo).resize((48, 40)).save(folder / f"{i:02d}_{name}.png")
        (folder / f"{i:02d}_{name}.txt").write_text(PROMPTS[i])
    return folder


def _direct(bb: ClipBackbone, folder, pre):
    files = sorted(folder.glob("*.png"))
    imgs = np.stack([pre(np.asarray(Image.open(f).convert("RGB")), 32) for f in files])
    prompts = [f.with_suffix(".txt").read_text() for f in files]
    with torch.no_grad():
        ie = bb.encoder.encode_image(torch.from_numpy(imgs)).double().numpy()
        te = bb.encoder.encode_text(tokenize(prompts)[0]).double().numpy()
    ie /= np.linalg.norm(ie, axis=1, keepdims=True)
    te /= np.linalg.norm(te, axis=1, keepdims=True)
    return (ie * te).sum(1)


def test_clip_score_conventions_match_the_formula(captioned):
    bb = _backbone("clip-vit-l-14")
    cos = _direct(bb, captioned, clip_preprocess)
    for convention, per, agg in (
        ("torchmetrics", 100 * cos, max(100 * cos.mean(), 0)),
        ("hessel", 2.5 * np.maximum(cos, 0), (2.5 * np.maximum(cos, 0)).mean()),
        ("cosine", cos, cos.mean()),
    ):
        res = evaluate(captioned, metrics="clip_score", backbones={"clip-vit-l-14": bb},
                       clip_score_convention=convention)
        got = np.array([r["clip_score"] for r in res.per_image])
        np.testing.assert_allclose(got, per, atol=1e-5)
        assert res["clip_score"] == pytest.approx(agg, abs=1e-5)
        assert res.metrics["clip_score"].ci is not None
        assert res.metrics["clip_score"].extra["convention"] == convention


class _Processor:
    """What torchmetrics' CLIPScore expects of a processor, built on our tokenizer/preprocess."""

    def __call__(self, text=None, images=None, return_tensors="pt", padding=True):
        out = {}
        if text is not None:
            ids, _ = tokenize(text)
            out["input_ids"] = ids
            out["attention_mask"] = (ids != 0).long()
        if images is not None:
            arrs = [np.asarray(im.permute(1, 2, 0).numpy(), np.uint8) if torch.is_tensor(im) else np.asarray(im)
                    for im in images]
            out["pixel_values"] = torch.from_numpy(np.stack([clip_preprocess(a, 32) for a in arrs]))
        return out


class _TensorFeatures(torch.nn.Module):
    """transformers 5 returns output objects from get_*_features; torchmetrics wants tensors."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    @staticmethod
    def _tensor(out):
        return out if torch.is_tensor(out) else out.pooler_output

    def get_image_features(self, pixel_values):
        return self._tensor(self.model.get_image_features(pixel_values=pixel_values))

    def get_text_features(self, input_ids, attention_mask=None):
        return self._tensor(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))


def test_clip_score_parity_with_torchmetrics(captioned):
    """torchmetrics' CLIPScore on transformers' own feature path, same model and inputs."""
    tm = pytest.importorskip("torchmetrics.multimodal.clip_score")
    bb = _backbone("clip-vit-l-14")
    metric = tm.CLIPScore(model_name_or_path=lambda: (_TensorFeatures(bb.encoder.model), _Processor()))
    files = sorted(captioned.glob("*.png"))
    imgs = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files]
    prompts = [f.with_suffix(".txt").read_text() for f in files]
    metric.update(imgs, prompts)
    theirs = float(metric.compute())
    ours = evaluate(captioned, metrics="clip_score", backbones={"clip-vit-l-14": bb})["clip_score"]
    assert ours == pytest.approx(theirs, abs=1e-4)


def test_hps_is_100_cos_with_hps_preprocessing(captioned):
    bb = _backbone("hps-v2.1", seed=1)
    cos = _direct(bb, captioned, hps_preprocess)
    res = evaluate(captioned, metrics="hps", backbones={"hps-v2.1": bb})
    np.testing.assert_allclose([r["hps"] for r in res.per_image], 100 * cos, atol=1e-4)
    assert res.manifest["options"]["hps_version"] == "v2.1"
    with pytest.raises(UserError, match="hps-version"):
        evaluate(captioned, metrics="hps", backbones={"hps-v2.1": bb}, hps_version="v3")


def test_clip_score_and_aesthetic_share_one_vit_l14_pass(captioned, tmp_path):
    head_file = shared_file("weights/aesthetic/sac+logos+ava1-l14-linearMSE.pth")
    from genmetrics.weights.store import get_weight_spec, import_weights

    import_weights(get_weight_spec("aesthetic-laion-improved-l14"), head_file)
    bb = _backbone("clip-vit-l-14", embed_dim=768)
    calls = []
    forward = bb.forward
    bb.forward = lambda batch: (calls.append(len(batch)), forward(batch))[1]
    res = evaluate(captioned, metrics="clip_score,aesthetic", backbones={"clip-vit-l-14": bb})
    assert sum(calls) == len(PROMPTS)  # one image forward each, shared by both metrics
    sd = torch.load(head_file, map_location="cpu", weights_only=True)
    files = sorted(captioned.glob("*.png"))
    imgs = np.stack([clip_preprocess(np.asarray(Image.open(f).convert("RGB")), 32) for f in files])
    with torch.no_grad():
        x = bb.encoder.encode_image(torch.from_numpy(imgs)).double().numpy()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for i in (0, 2, 4, 6, 7):  # Linear layers of the MLP (dropouts between are inactive)
        x = x @ sd[f"layers.{i}.weight"].double().numpy().T + sd[f"layers.{i}.bias"].double().numpy()
    np.testing.assert_allclose([r["aesthetic"] for r in res.per_image], x[:, 0], atol=1e-4)


def test_prompts_required_and_missing_sidecar_is_named(captioned):
    bb = _backbone("clip-vit-l-14")
    (captioned / "zz_extra.png").write_bytes((captioned / "00_astronaut.png").read_bytes())
    with pytest.raises(UserError, match="zz_extra.png"):
        evaluate(captioned, metrics="clip_score", backbones={"clip-vit-l-14": bb})
    res = evaluate(captioned, metrics="clip_score", backbones={"clip-vit-l-14": bb}, allow_missing=True)
    assert res.counts["without_prompt_skipped"] == 1 and res.counts["generated"] == len(PROMPTS)


def test_manifest_prompts_and_editing_metrics(tmp_path, real_photos):
    bb = _backbone("clip-vit-l-14")
    rows = []
    (tmp_path / "src").mkdir()
    (tmp_path / "edit").mkdir()
    for name, photo in list(real_photos.items())[:4]:
        img = Image.fromarray(photo).resize((40, 40))
        img.save(tmp_path / "src" / f"{name}.png")
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "edit" / f"{name}.png")
        rows.append({"image": f"{name}.png", "prompt": f"a flipped {name}", "source_prompt": f"a {name}",
                     "source_image": str(tmp_path / "src" / f"{name}.png")})
    manifest = tmp_path / "edits.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    res = evaluate(tmp_path / "edit", metrics="clip_directional,clip_image_similarity",
                   prompts=manifest, backbones={"clip-vit-l-14": bb})
    src = np.stack([clip_preprocess(np.asarray(Image.open(tmp_path / "src" / r["image"])), 32) for r in rows])
    edt = np.stack([clip_preprocess(np.asarray(Image.open(tmp_path / "edit" / r["image"])), 32) for r in rows])
    with torch.no_grad():
        es = bb.encoder.encode_image(torch.from_numpy(src)).double().numpy()
        ee = bb.encoder.encode_image(torch.from_numpy(edt)).double().numpy()
        ts = bb.encoder.encode_text(tokenize([r["source_prompt"] for r in rows])[0]).double().numpy()
        tt = bb.encoder.encode_text(tokenize([r["prompt"] for r in rows])[0]).double().numpy()
    n = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    di, dt = n(ee) - n(es), n(tt) - n(ts)
    expected = (n(di) * n(dt)).sum(1)
    by_id = {r["id"]: r for r in res.per_image}
    got = [by_id[r["image"][:-4]]["clip_directional"] for r in rows]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    sim = [by_id[r["image"][:-4]]["clip_image_similarity"] for r in rows]
    np.testing.assert_allclose(sim, (n(es) * n(ee)).sum(1), atol=1e-5)


def test_zero_shot_object_precision_recall_matches_sklearn(tmp_path, real_photos):
    metrics = pytest.importorskip("sklearn.metrics")
    bb = _backbone("clip-vit-l-14", seed=3)
    labels = ["cat", "rocket", "coffee", "person"]
    rows = []
    for i, (name, photo) in enumerate(real_photos.items()):
        Image.fromarray(photo).resize((40, 40)).save(tmp_path / f"{name}.png")
        rows.append({"image": f"{name}.png", "prompt": f"a photo of {name}", "label": labels[i % 4]})
    (tmp_path / "m.csv").write_text("image,prompt,label\n" + "\n".join(f"{r['image']},{r['prompt']},{r['label']}" for r in rows))
    res = evaluate(tmp_path, metrics="object_precision,object_recall", prompts=tmp_path / "m.csv",
                   backbones={"clip-vit-l-14": bb}, labels=labels)
    truth = {r["image"][:-4]: r["label"] for r in rows}
    y_true = [truth[r["id"]] for r in res.per_image]
    y_pred = [r["object_precision.predicted_label"] for r in res.per_image]
    assert res["object_precision"] == pytest.approx(metrics.precision_score(y_true, y_pred, average="macro", zero_division=0))
    assert res["object_recall"] == pytest.approx(metrics.recall_score(y_true, y_pred, average="macro", zero_division=0))
    assert res.metrics["object_recall"].extra["micro"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    cm = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    assert res.metrics["object_precision"].extra["confusion_matrix"] == cm.tolist()
