"""Text–image metric speed on CPU, and how far bf16 moves the scores.

1. CLIP score + LAION aesthetic from ONE shared ViT-L/14 pass (genmetrics) versus
   torchmetrics' CLIPScore plus a separate aesthetic pass (a second ViT-L/14 image forward),
   same model, same images, same run.
2. Images/s of each CLIP-family backbone in fp32 and bf16, and the mean |Δ| that bf16 causes
   in 100·cos (CLIP score / HPS points) and in the aesthetic score.

No real CLIP weights can be downloaded here, so the backbones carry random weights of the real
architectures (speed is the same); the bf16 drift is therefore a proxy measured on random
weights, not on the released checkpoints. The aesthetic head is the real LAION head when
../shared is present. Usage: python benchmarks/bench_text_image.py --n 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
HEAD = ROOT.parent / "shared/weights/aesthetic/sac+logos+ava1-l14-linearMSE.pth"
PROMPTS = ["a photo of an astronaut", "a cat on a sofa", "a cup of coffee", "a rocket on a launch pad",
           "a microscope slide", "a portrait of a woman", "a busy street at night", "a bowl of fruit"]


def make_set(folder: Path, n: int) -> None:
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(photos[i % len(photos)]).save(folder / f"{i:04d}.png")
        (folder / f"{i:04d}.txt").write_text(PROMPTS[i % len(PROMPTS)])


def install_head() -> str:
    from genmetrics.weights.store import _write_marker, get_weight_spec, import_weights, sha256_file

    spec = get_weight_spec("aesthetic-laion-improved-l14")
    if HEAD.exists():
        import_weights(spec, HEAD)
        return "real LAION improved head"
    from safetensors.torch import save_file

    from genmetrics.backbones.aesthetic import ImprovedAestheticMLP

    target = spec.cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in ImprovedAestheticMLP().state_dict().items()}, str(target))
    _write_marker(target, sha256_file(target))
    return "random head (../shared absent)"


def backbone(name: str, arch: str, dtype: str = "fp32", encoder=None):
    from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
    from genmetrics.backbones.clip.configs import get_arch
    from genmetrics.backbones.clip.model import ClipEncoder

    enc = encoder if encoder is not None else ClipEncoder.random(get_arch(arch), seed=0)
    if dtype == "bf16":
        enc = enc.to(torch.bfloat16)
    return ClipBackbone(CLIP_MODELS[name], enc, "00" * 32, dtype)


class _Features(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    @staticmethod
    def _t(out):
        return out if torch.is_tensor(out) else out.pooler_output

    def get_image_features(self, pixel_values):
        return self._t(self.model.get_image_features(pixel_values=pixel_values))

    def get_text_features(self, input_ids, attention_mask=None):
        return self._t(self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))


class _Processor:
    def __call__(self, text=None, images=None, return_tensors="pt", padding=True):
        from genmetrics.backbones.clip.preprocess import clip_preprocess
        from genmetrics.backbones.clip.tokenizer import tokenize

        out = {}
        if text is not None:
            ids, _ = tokenize(text)
            out["input_ids"], out["attention_mask"] = ids, (ids != 0).long()
        if images is not None:
            arrs = [im.permute(1, 2, 0).numpy().astype(np.uint8) for im in images]
            out["pixel_values"] = torch.from_numpy(np.stack([clip_preprocess(a, 224) for a in arrs]))
        return out


def shared_pass_vs_torchmetrics(folder: Path, n: int) -> None:
    from PIL import Image
    from torchmetrics.multimodal.clip_score import CLIPScore

    import genmetrics
    from genmetrics.backbones.aesthetic import aesthetic_score, load_aesthetic_head
    from genmetrics.backbones.clip.preprocess import clip_preprocess

    bb = backbone("clip-vit-l-14", "ViT-L-14")
    t0 = time.perf_counter()
    ours = genmetrics.evaluate(folder, metrics="clip_score,aesthetic", backbones={"clip-vit-l-14": bb}, cache=False)
    t_ours = time.perf_counter() - t0

    files = sorted(folder.glob("*.png"))
    t0 = time.perf_counter()
    imgs = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files]
    texts = [f.with_suffix(".txt").read_text() for f in files]
    metric = CLIPScore(model_name_or_path=lambda: (_Features(bb.encoder.model), _Processor()))
    metric.update(imgs, texts)
    theirs = float(metric.compute())
    head = load_aesthetic_head("aesthetic-laion-improved-l14")
    with torch.inference_mode():  # the separate aesthetic pass: a second ViT-L/14 forward
        pix = torch.from_numpy(np.stack([clip_preprocess(np.array(Image.open(f).convert("RGB")), 224) for f in files]))
        aest = aesthetic_score(bb.encoder.encode_image(pix), head).mean().item()
    t_tm = time.perf_counter() - t0
    print(f"\nCLIP score + aesthetic, {n} images, ViT-L/14 (random weights), fp32")
    print(f"  genmetrics one shared pass      {t_ours:7.2f} s  {n / t_ours:6.2f} img/s")
    print(f"  torchmetrics + separate pass    {t_tm:7.2f} s  {n / t_tm:6.2f} img/s")
    print(f"  speed-up {t_tm / t_ours:.2f}x (target >= 1.8x); clip_score ours {ours['clip_score']:.4f} "
          f"vs torchmetrics {theirs:.4f}; aesthetic ours {ours['aesthetic']:.4f} vs separate {aest:.4f}")


def dtype_table(n: int) -> None:
    from PIL import Image
    from skimage import data

    from genmetrics.backbones.aesthetic import aesthetic_score, load_aesthetic_head

    imgs = [np.asarray(Image.fromarray(p)) for p in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket())]
    imgs = (imgs * (n // len(imgs) + 1))[:n]
    texts = (PROMPTS * (n // len(PROMPTS) + 1))[:n]
    head = load_aesthetic_head("aesthetic-laion-improved-l14")
    print(f"\nbackbone images/s (batch {n}) and bf16 drift, random weights of the real architectures")
    print(f"  {'backbone':20s} {'fp32 img/s':>10s} {'bf16 img/s':>10s} {'|Δ 100·cos|':>12s} {'|Δ aesthetic|':>14s}")
    for name, arch in (("clip-vit-b-32", "ViT-B-32"), ("clip-vit-l-14", "ViT-L-14"), ("hps-v2.1", "ViT-H-14")):
        res = {}
        fp32 = backbone(name, arch)
        for dtype in ("fp32", "bf16"):
            bb = fp32 if dtype == "fp32" else backbone(name, arch, "bf16", encoder=fp32.encoder)
            batch = np.stack([bb.preprocess(i) for i in imgs])
            t0 = time.perf_counter()
            emb = bb.forward(batch)["embed"]
            dt = time.perf_counter() - t0
            txt = bb.encode_texts(texts)
            cos = (emb / np.linalg.norm(emb, axis=1, keepdims=True) * (txt / np.linalg.norm(txt, axis=1, keepdims=True))).sum(1)
            aes = aesthetic_score(torch.from_numpy(emb), head).numpy() if emb.shape[1] == 768 else None
            res[dtype] = (n / dt, 100 * cos, aes)
        d_cos = float(np.abs(res["fp32"][1] - res["bf16"][1]).mean())
        d_aes = "" if res["fp32"][2] is None else f"{float(np.abs(res['fp32'][2] - res['bf16'][2]).mean()):.4f}"
        print(f"  {name:20s} {res['fp32'][0]:10.2f} {res['bf16'][0]:10.2f} {d_cos:12.4f} {d_aes:>14s}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gm-bench-text-"))
    os.environ["GENMETRICS_HOME"] = str(work / "home")
    print(f"torch threads {torch.get_num_threads()}; aesthetic head: {install_head()}")
    make_set(work / "imgs", args.n)
    shared_pass_vs_torchmetrics(work / "imgs", args.n)
    dtype_table(min(args.n, 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
