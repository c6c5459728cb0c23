"""How far ``--dtype bf16`` / ``fp16`` moves the features of the ViT backbones from fp32.

For DINOv2 ViT-L/14 and CLIP ViT-L/14 (real architectures; the released weights when they are
installed in ``$GENMETRICS_HOME``, else random weights — say which in the output) on the same
real photographs: the relative L2 error of each feature vector, the cosine drift
(1 − cos(fp32, low precision)) and, for the score that users read off these features, the
change of 100·cos between image pairs (the CLIP-score scale). Usage::

    python benchmarks/bench_dtype_drift.py [--n 8] [--device cpu] [--dtypes bf16,fp16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def photos(n: int) -> list[np.ndarray]:
    from PIL import Image
    from skimage import data

    base = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.camera(),
            data.immunohistochemistry()]
    out = []
    for i in range(n):
        img = base[i % len(base)]
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        h, w = img.shape[:2]
        crop = img[(i * 7) % (h // 4):, (i * 11) % (w // 4):]
        out.append(np.asarray(Image.fromarray(crop).resize((320 + 16 * i, 300))))
    return out


def backbones(dtype: str, device: str) -> dict:
    import torch
    from bench_modern_metrics import _original_shapes  # noqa: PLC2701

    from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
    from genmetrics.backbones.clip.configs import ARCHS as CLIP_ARCHS
    from genmetrics.backbones.clip.model import ClipEncoder
    from genmetrics.backbones.dinov2.backbone import Dinov2Backbone, build_model
    from genmetrics.backbones.dinov2.configs import ARCHS as DINO_ARCHS

    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    arch = DINO_ARCHS["vitl14"]
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) * 0.02 for k, s in _original_shapes(arch).items()}
    dino = Dinov2Backbone("dinov2-vit-l14", arch, build_model(arch, sd, device, tdtype), "00" * 32,
                          dtype=dtype, device=device)
    enc = ClipEncoder.random(CLIP_ARCHS["ViT-L-14"]).to(device=device, dtype=tdtype)
    clip = ClipBackbone(CLIP_MODELS["clip-vit-l-14"], enc, "11" * 32, dtype)
    return {"dinov2-vit-l14 (random weights)": dino, "clip-vit-l-14 (random weights)": clip}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtypes", default="bf16,fp16")
    args = ap.parse_args()
    images = photos(args.n)
    feats: dict[str, dict[str, np.ndarray]] = {}
    for dtype in ["fp32", *args.dtypes.split(",")]:
        for name, bb in backbones(dtype, args.device).items():
            batch = bb.collate([bb.preprocess(im) for im in images])
            out = next(iter(bb.forward(batch).values())).astype(np.float64)
            feats.setdefault(name, {})[dtype] = out
    print(f"{args.n} photos on {args.device}; drift of each dtype against fp32")
    print(f"{'backbone':32s} {'dtype':5s} {'rel. L2 err (mean/max)':>24s} {'1-cos (max)':>12s} "
          f"{'Δ 100·cos pairs (mean/max)':>28s}")
    for name, by_dtype in feats.items():
        ref = by_dtype["fp32"]
        unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        pair_ref = 100 * unit @ unit.T
        for dtype, x in by_dtype.items():
            if dtype == "fp32":
                continue
            rel = np.linalg.norm(x - ref, axis=1) / np.linalg.norm(ref, axis=1)
            u = x / np.linalg.norm(x, axis=1, keepdims=True)
            cos_drift = 1 - (u * unit).sum(axis=1)
            dpair = np.abs(100 * u @ u.T - pair_ref)[np.triu_indices(len(x), 1)]
            print(f"{name:32s} {dtype:5s} {rel.mean():11.2e} / {rel.max():9.2e} "
                  f"{cos_drift.max():12.2e} {dpair.mean():13.3f} / {dpair.max():9.3f}")


if __name__ == "__main__":
    main()
