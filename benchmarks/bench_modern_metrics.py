"""One pass for FID + FD-DINOv2 + CMMD vs three separate passes (torch-fidelity / dgm-eval
style: each metric decodes every image and runs its own network).

Networks have the real architectures (Inception v3 2015, DINOv2 ViT-L/14 at 224, CLIP
ViT-L/14@336) with random weights, so no download is needed; the timing does not depend on
the weights. ``--small`` swaps in tiny ViTs to check the wiring quickly. No feature cache is
used (a cold run). Prints wall time of each variant, the ratio, the cost per image per
backbone, and what part of that is decoding + resizing (the work one pass shares; the
forwards are the same in both variants, so the ratio is bounded by how much decoding costs
next to the networks).

    python benchmarks/bench_modern_metrics.py --n 32 [--small] [--device cuda] [--threads 2]

``--kid-bar N`` measures the issue's KID bar instead: the share of KID in a cached re-run of
``genmetrics evaluate GEN --reference REAL --metrics fid,kid`` (N vs N images, default KID
options, random-weight FID Inception through ``benchmarks/random_inception_plugin.py``): one
cold run fills the cache, then each warm re-run is a fresh CLI process timed from outside, with
the time inside ``kernel_inception_distance`` measured in that process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _images(folder: Path, n: int, size=(384, 512)) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def _backbones(tmp: Path, small: bool, device: str) -> dict:
    from safetensors.torch import save_file

    from genmetrics.backbones.clip.cmmd import CMMD_SPEC, CmmdClipBackbone
    from genmetrics.backbones.clip.configs import ARCHS as CLIP_ARCHS
    from genmetrics.backbones.clip.configs import tiny_arch as clip_tiny
    from genmetrics.backbones.clip.model import ClipEncoder
    from genmetrics.backbones.dinov2.backbone import Dinov2Backbone, build_model
    from genmetrics.backbones.dinov2.configs import ARCHS as DINO_ARCHS
    from genmetrics.backbones.dinov2.configs import tiny_arch as dino_tiny
    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.inception.network import FIDInceptionV3
    from genmetrics.backbones.registry import BackboneOptions

    torch.manual_seed(0)
    net = FIDInceptionV3(has_fc=True)
    for p in net.parameters():
        p.data.normal_(0, 0.02)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(sd, str(tmp / "inception.safetensors"))
    inception = InceptionBackbone(BackboneOptions(device=device), str(tmp / "inception.safetensors"))

    arch = dino_tiny() if small else DINO_ARCHS["vitl14"]
    g = torch.Generator().manual_seed(0)
    dsd = {k: torch.randn(shape, generator=g) * 0.02
           for k, shape in _original_shapes(arch).items()}
    dino = Dinov2Backbone("dinov2-vit-l14", arch, build_model(arch, dsd, device), "00" * 32,
                          device=device)

    carch = clip_tiny() if small else CLIP_ARCHS["ViT-L-14-336"]
    enc = ClipEncoder.random(carch).to(device)
    clip = CmmdClipBackbone(CMMD_SPEC, enc, "11" * 32)
    return {"inception": inception, "dinov2-vit-l14": dino, "clip-vit-l-14-336-cmmd": clip}


def _original_shapes(arch) -> dict:
    d, h = arch.hidden_size, arch.mlp_hidden
    grid = arch.image_size // arch.patch_size
    shapes = {"cls_token": (1, 1, d), "pos_embed": (1, 1 + grid * grid, d), "mask_token": (1, d),
              "patch_embed.proj.weight": (d, 3, arch.patch_size, arch.patch_size),
              "patch_embed.proj.bias": (d,), "norm.weight": (d,), "norm.bias": (d,)}
    for i in range(arch.layers):
        p = f"blocks.{i}."
        shapes.update({p + "norm1.weight": (d,), p + "norm1.bias": (d,),
                       p + "attn.qkv.weight": (3 * d, d), p + "attn.qkv.bias": (3 * d,),
                       p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
                       p + "ls1.gamma": (d,), p + "norm2.weight": (d,), p + "norm2.bias": (d,),
                       p + "ls2.gamma": (d,)})
        if arch.swiglu:
            shapes.update({p + "mlp.w12.weight": (2 * h, d), p + "mlp.w12.bias": (2 * h,),
                           p + "mlp.w3.weight": (d, h), p + "mlp.w3.bias": (d,)})
        else:
            shapes.update({p + "mlp.fc1.weight": (h, d), p + "mlp.fc1.bias": (h,),
                           p + "mlp.fc2.weight": (d, h), p + "mlp.fc2.bias": (d,)})
    return shapes


REQUESTS = {
    "inception": ("pool3", "gaussian"),
    "dinov2-vit-l14": ("cls", "gaussian"),
    "clip-vit-l-14-336-cmmd": ("embed", "array"),
}


ROOT = Path(__file__).resolve().parents[1]

_TIMED_CLI = """
import json, sys, time
import genmetrics.metrics.distribution as dist
from genmetrics.cli.app import main
spent = []
kid = dist.kernel_inception_distance
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return kid(*a, **k)
    finally:
        spent.append(time.perf_counter() - t)
dist.kernel_inception_distance = timed
t = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "kid_s": sum(spent), "main_s": time.perf_counter() - t}),
      file=sys.stderr)
"""


def kid_bar(n: int, batch_size: int, reruns: int = 3) -> None:
    """KID's share of a cached ``evaluate --metrics fid,kid`` re-run (see the module doc)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from random_inception_plugin import write_random_weights

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, seed in (("gen", 1), ("real", 2)):
            (tmp / name).mkdir()
            rng = np.random.default_rng(seed)
            for i in range(n):
                img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
                Image.fromarray(img).save(tmp / name / f"{i:05d}.png")
        env = {**os.environ, "GENMETRICS_PLUGINS": "random_inception_plugin",
               "GENMETRICS_BENCH_INCEPTION": str(write_random_weights(tmp / "inception.safetensors")),
               "GENMETRICS_HOME": str(tmp / "home"),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks")])}
        args = ["evaluate", str(tmp / "gen"), "--reference", str(tmp / "real"), "--metrics",
                "fid,kid", "--device", "cpu", "--batch-size", str(batch_size), "--format", "json"]

        def run(metrics: str = "fid,kid") -> tuple[float, dict]:
            t = time.perf_counter()
            argv = [a if a != "fid,kid" else metrics for a in args]
            proc = subprocess.run([sys.executable, "-c", _TIMED_CLI, *argv], env=env,
                                  capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            info = json.loads(proc.stderr.strip().splitlines()[-1])
            if proc.returncode != 0 or info["code"] != 0:
                raise SystemExit(proc.stderr)
            return wall, {**info, "result": json.loads(proc.stdout)}

        cold, info = run()
        kid = info["result"]["metrics"]["kid"]
        size = kid.get("subset_size", "?")
        print(f"KID bar: {n} vs {n} images, kid_subsets=100, subset_size={size}, "
              f"{torch.get_num_threads()} torch threads available")
        print(f"cold run (fills the cache): {cold:.2f} s wall, KID {info['kid_s'] * 1000:.1f} ms")
        walls, mains = [], []
        for i in range(reruns):
            wall, info = run()
            hits = info["result"]["counts"]["cache_hits"]
            walls.append(wall)
            mains.append(info["main_s"])
            print(f"cached re-run {i + 1}: {wall:.2f} s wall (process), {info['main_s']:.2f} s in "
                  f"main(), KID {info['kid_s'] * 1000:.1f} ms = {100 * info['kid_s'] / wall:.1f}% "
                  f"of the wall time ({100 * info['kid_s'] / info['main_s']:.1f}% of main()); "
                  f"cache hits {hits}")
        fid_walls, fid_mains = [], []
        for _ in range(reruns):
            wall, info = run("fid")
            fid_walls.append(wall)
            fid_mains.append(info["main_s"])
        w, f = float(np.median(walls)), float(np.median(fid_walls))
        mw, mf = float(np.median(mains)), float(np.median(fid_mains))
        print(f"median cached re-run: fid,kid {w:.2f} s vs fid alone {f:.2f} s (main(): {mw:.2f} "
              f"vs {mf:.2f} s): KID's marginal share {100 * (w - f) / w:.1f}% of the wall time "
              f"({100 * (mw - mf) / mw:.1f}% of main())")


def main() -> None:
    from genmetrics.features.extract import FeatureRequest, extract_features
    from genmetrics.sources.items import items_from

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--kid-bar", type=int, default=None, metavar="N",
                    help="measure KID's share of a cached fid,kid re-run on N vs N images instead")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.kid_bar:
        kid_bar(args.kid_bar, args.batch_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "img").mkdir()
        _images(tmp / "img", args.n)
        items = items_from(str(tmp / "img"))
        bbs = _backbones(tmp, args.small, args.device)
        reqs = [FeatureRequest(b, o, f) for b, (o, f) in REQUESTS.items()]
        extract_features(items[: min(4, len(items))], bbs, reqs, batch_size=4)  # warm-up

        t = time.perf_counter()
        extract_features(items, bbs, reqs, batch_size=args.batch_size)
        one = time.perf_counter() - t

        separate = {}
        for r in reqs:
            t = time.perf_counter()
            extract_features(items, {r.backbone: bbs[r.backbone]}, [r], batch_size=args.batch_size)
            separate[r.backbone] = time.perf_counter() - t
        total = sum(separate.values())

        from genmetrics.sources.decode import load_rgb, open_image

        decode = {}
        for r in reqs:  # what each separate pass spends before its network: decode + resize
            bb = bbs[r.backbone]
            t = time.perf_counter()
            for item in items:
                bb.preprocess(load_rgb(open_image(item.read(), item.location), item.location))
            decode[r.backbone] = time.perf_counter() - t
    print(f"{args.n} images {'(tiny ViTs)' if args.small else '(real architectures)'} on "
          f"{args.device}, {torch.get_num_threads()} threads")
    print(f"one pass (FID + FD-DINOv2 + CMMD): {one:.2f} s")
    print(f"separate passes: {total:.2f} s  ratio separate/one = {total / one:.2f}")
    for name, sec in separate.items():
        print(f"  {name:26s} {1000 * sec / args.n:8.1f} ms/image (own decode + resize + forward), "
              f"of which decode + resize {1000 * decode[name] / args.n:6.1f} ms")


if __name__ == "__main__":
    main()
