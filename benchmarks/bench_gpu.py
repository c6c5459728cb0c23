"""GPU throughput, one command (under 8 minutes on one H100-class GPU with 16 cores):

1. Inception (the real TF-2015 FID weights from ``../shared`` when present, else random ones of
   the same architecture): end-to-end images/s from 512² PNGs (cold, no cache) for the ``tf1``
   protocol (resized on the GPU from uint8) and ``clean`` (PIL on the host), fp32 with TF32 off
   (the default) and with ``--allow-tf32``; the host stage alone (hash + decode + resize, every
   core: the decode-bound ceiling) and the network alone (inputs already on the GPU: the
   network-bound ceiling).
2. DINOv2 ViT-L/14 and CLIP ViT-L/14-336 (random weights, real architectures) the same way,
   fp32 and bf16.
3. FID on the GPU vs the CPU on the same images (same weights, protocol tf1).
4. HPD v2 scoring time: HPS v2.1 (OpenCLIP ViT-H-14, random weights) on 3,200 images and
   prompts, bf16 and fp32.

Prints a table and writes ``bench_gpu.json`` (to ``--out``). Usage::

    python benchmarks/bench_gpu.py [--n 2000] [--device cuda] [--out DIR] [--quick]

``--quick`` (small N, tiny ViTs) checks the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_INCEPTION = ROOT.parent / "shared/weights/inception/fid_inception_tf20151205_torchscript.pt"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _write_png(args) -> None:
    index, folder, size = args
    from PIL import Image

    rng = np.random.default_rng(index)
    # smooth content plus noise: PNG sizes and decode cost like generated images
    base = np.linspace(0, 255, size, dtype=np.float32)
    img = (base[None, :, None] * rng.uniform(0.3, 1.0, 3) + base[:, None, None] * rng.uniform(0, 0.7, 3))
    img = np.clip(img / 1.7 + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(Path(folder) / f"{index:05d}.png")


def make_images(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_png, [(i, str(folder), size) for i in range(n)], chunksize=16))


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[float, object]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def inception_backbone(home: Path, device: str, protocol: str, allow_tf32: bool, quick: bool):
    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.registry import BackboneOptions

    weights = home / "inception.safetensors"
    if not weights.exists():
        if SHARED_INCEPTION.exists() and not quick:
            from genmetrics.backbones.inception.convert import convert_inception_weights

            convert_inception_weights(SHARED_INCEPTION, weights)
        else:
            from random_inception_plugin import write_random_weights

            write_random_weights(weights)
    opts = BackboneOptions(protocol=protocol, device=device, allow_tf32=allow_tf32)
    return InceptionBackbone(opts, str(weights))


def host_stage_rate(items, backbone, workers: int) -> float:
    """Images/s of the host stage alone: hash, decode and preprocess, every core."""
    from concurrent.futures import ThreadPoolExecutor

    from genmetrics.features.prepare import ChunkPreparer

    with ThreadPoolExecutor(workers) as pool:
        stage = ChunkPreparer({"b": backbone}, ["b"], None, pool, False, {})
        start = time.perf_counter()
        for s in range(0, len(items), 256):
            stage.prepare(items[s : s + 256])
        return len(items) / (time.perf_counter() - start)


def network_rate(backbone, items, batch: int, device: str, reps: int = 5) -> float:
    """Images/s of the network alone: one prepared batch, already collated, run ``reps``
    times (for the device resize this still includes the uint8 upload and the resize)."""
    from genmetrics.sources.decode import load_rgb, open_image

    pixels = [load_rgb(open_image(it.read(), it.location), it.location) for it in items[:batch]]
    collated = backbone.collate([backbone.preprocess(p) for p in pixels])
    backbone.forward(collated)  # warm-up (builds the network, cuDNN autotune)
    seconds, _ = timed(lambda: [backbone.forward(collated) for _ in range(reps)], device)
    return reps * len(pixels) / seconds


def end_to_end_rate(items, backbones: dict, output: str, batch: int, workers: int, device: str):
    from genmetrics.features.extract import FeatureRequest, extract_features

    reqs = [FeatureRequest(name, output, "gaussian") for name in backbones]
    seconds, feats = timed(lambda: extract_features(items, backbones, reqs, batch_size=batch,
                                                    workers=workers), device)
    return len(items) / seconds, feats


def vit_backbones(device: str, dtype: str, quick: bool) -> dict:
    import torch
    from bench_modern_metrics import _original_shapes  # noqa: PLC2701

    from genmetrics.backbones.clip.cmmd import CMMD_SPEC, CmmdClipBackbone
    from genmetrics.backbones.clip.configs import ARCHS as CLIP_ARCHS
    from genmetrics.backbones.clip.configs import tiny_arch as clip_tiny
    from genmetrics.backbones.clip.model import ClipEncoder
    from genmetrics.backbones.dinov2.backbone import Dinov2Backbone, build_model
    from genmetrics.backbones.dinov2.configs import ARCHS as DINO_ARCHS
    from genmetrics.backbones.dinov2.configs import tiny_arch as dino_tiny

    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    arch = dino_tiny() if quick else DINO_ARCHS["vitl14"]
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) * 0.02 for k, s in _original_shapes(arch).items()}
    dino = Dinov2Backbone("dinov2-vit-l14", arch, build_model(arch, sd, device, tdtype), "00" * 32,
                          dtype=dtype, device=device)
    carch = clip_tiny() if quick else CLIP_ARCHS["ViT-L-14-336"]
    enc = ClipEncoder.random(carch).to(device=device, dtype=tdtype)
    clip = CmmdClipBackbone(CMMD_SPEC, enc, "11" * 32, dtype)
    return {"dinov2-vit-l14": (dino, "cls"), "clip-vit-l-14-336": (clip, "embed")}


def hps_scoring(items, device: str, dtype: str, quick: bool, batch: int, workers: int) -> dict:
    """HPS v2.1 on len(items) images and prompts: seconds for the image features, the text
    features and the scores, as ``benchmark --metrics hps`` spends them."""
    import torch

    from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
    from genmetrics.backbones.clip.configs import ARCHS as CLIP_ARCHS
    from genmetrics.backbones.clip.configs import tiny_arch as clip_tiny
    from genmetrics.backbones.clip.model import ClipEncoder
    from genmetrics.features.extract import FeatureRequest, encode_texts_cached, extract_features
    from genmetrics.suites.registry import load_suite

    tdtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    arch = clip_tiny(act="gelu") if quick else CLIP_ARCHS["ViT-H-14"]
    enc = ClipEncoder.random(arch).to(device=device, dtype=tdtype)
    hps = ClipBackbone(CLIP_MODELS["hps-v2.1"], enc, "22" * 32, dtype)
    suite = [p.prompt for p in load_suite("hpdv2").items]
    prompts = [suite[i % len(suite)] for i in range(len(items))]
    t0 = time.perf_counter()
    feats = extract_features(items, {"hps": hps}, [FeatureRequest("hps", "embed")],
                             batch_size=batch, workers=workers)
    sync(device)
    t1 = time.perf_counter()
    text = encode_texts_cached(hps, prompts, None, batch_size=256)
    sync(device)
    t2 = time.perf_counter()
    img = feats.array("hps", "embed").astype(np.float64)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = text.astype(np.float64) / np.linalg.norm(text, axis=1, keepdims=True)
    scores = 100.0 * (img * txt).sum(axis=1)
    t3 = time.perf_counter()
    return {"images": len(items), "image_s": t1 - t0, "text_s": t2 - t1, "score_s": t3 - t2,
            "total_s": t3 - t0, "img_per_s": len(items) / (t1 - t0), "mean": float(scores.mean())}


def fid_gpu_vs_cpu(gen, real, home: Path, device: str, quick: bool, workers: int) -> dict:
    from genmetrics.features.extract import FeatureRequest, extract_features
    from genmetrics.metrics.functional.frechet import frechet_distance_from_stats

    out = {}
    for dev in (device, "cpu"):
        bb = inception_backbone(home, dev, "tf1", False, quick)
        req = [FeatureRequest("inception", "pool3", "gaussian")]
        a = extract_features(gen, {"inception": bb}, req, batch_size=64, workers=workers)
        b = extract_features(real, {"inception": bb}, req, batch_size=64, workers=workers)
        out[dev] = frechet_distance_from_stats(a.gaussian("inception", "pool3"),
                                               b.gaussian("inception", "pool3"))
    out["relative_difference"] = abs(out[device] - out["cpu"]) / max(abs(out["cpu"]), 1e-12)
    return out


def main() -> None:
    import torch

    from genmetrics import catalog
    from genmetrics.features.prepare import default_workers
    from genmetrics.sources.items import items_from

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="512² PNGs for the Inception runs")
    ap.add_argument("--vit-n", type=int, default=1000, help="images for the ViT runs")
    ap.add_argument("--fid-n", type=int, default=256, help="images per side for GPU vs CPU FID")
    ap.add_argument("--hps-n", type=int, default=3200, help="images for the HPD v2 scoring time")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=".")
    ap.add_argument("--quick", action="store_true", help="tiny N and tiny ViTs (check the script)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.vit_n, args.fid_n, args.hps_n, args.batch_size = 12, 8, 6, 8, 4
    catalog.load()
    workers = args.workers or default_workers()
    report: dict = {"device": args.device, "workers": workers, "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
                    "n": args.n, "batch_size": args.batch_size}
    print(f"device {args.device} ({report['gpu']}), {workers} decode workers, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["GENMETRICS_HOME"] = str(tmp / "home")
        t = time.perf_counter()
        make_images(tmp / "gen", args.n, args.size)
        make_images(tmp / "real", args.fid_n, args.size)
        print(f"wrote {args.n} + {args.fid_n} PNGs of {args.size}² in {time.perf_counter() - t:.1f} s")
        items = items_from(str(tmp / "gen"))

        rows = []
        for protocol in ("tf1", "clean"):
            for tf32 in (False, True):
                bb = inception_backbone(tmp, args.device, protocol, tf32, args.quick)
                net = network_rate(bb, items, args.batch_size, args.device)
                e2e, _ = end_to_end_rate(items, {"inception": bb}, "pool3", args.batch_size,
                                         workers, args.device)
                host = host_stage_rate(items, bb, workers) if not tf32 else None
                rows.append({"backbone": "inception", "protocol": protocol, "dtype": "fp32",
                             "tf32": tf32, "end_to_end": e2e, "network_only": net, "host_only": host})
        vit_items = items[: args.vit_n]
        for dtype in ("fp32", "bf16"):
            for name, (bb, output) in vit_backbones(args.device, dtype, args.quick).items():
                net = network_rate(bb, vit_items, min(args.batch_size, 128), args.device)
                e2e, _ = end_to_end_rate(vit_items, {name: bb}, output, min(args.batch_size, 128),
                                         workers, args.device)
                host = host_stage_rate(vit_items, bb, workers) if dtype == "fp32" else None
                rows.append({"backbone": name, "protocol": "own", "dtype": dtype, "tf32": False,
                             "end_to_end": e2e, "network_only": net, "host_only": host})
        report["throughput"] = rows
        print(f"\n{'backbone':20s} {'protocol':9s} {'dtype':5s} {'tf32':5s} {'end-to-end':>11s} "
              f"{'network':>9s} {'host':>9s}  bound")
        for r in rows:
            host = f"{r['host_only']:9.0f}" if r["host_only"] else f"{'':9s}"
            bound = "-"
            if r["host_only"]:
                bound = "decode" if r["host_only"] < r["network_only"] else "network"
            print(f"{r['backbone']:20s} {r['protocol']:9s} {r['dtype']:5s} {str(r['tf32']):5s} "
                  f"{r['end_to_end']:9.0f}/s {r['network_only']:7.0f}/s {host}/s  {bound}")

        fid = fid_gpu_vs_cpu(items[: args.fid_n], items_from(str(tmp / "real")), tmp,
                             args.device, args.quick, workers)
        report["fid_gpu_vs_cpu"] = fid
        print(f"\nFID (tf1, {args.fid_n} vs {args.fid_n}): {args.device} {fid[args.device]:.6f}, "
              f"cpu {fid['cpu']:.6f}, relative difference {fid['relative_difference']:.2e}")

        hps_items = [items[i % len(items)] for i in range(args.hps_n)]
        report["hpdv2_scoring"] = {}
        for dtype in ("bf16", "fp32"):
            h = hps_scoring(hps_items, args.device, dtype, args.quick, min(args.batch_size, 128), workers)
            report["hpdv2_scoring"][dtype] = h
            print(f"HPD v2 scoring, HPS v2.1 {dtype}: {h['images']} images in {h['total_s']:.1f} s "
                  f"(image features {h['image_s']:.1f} s = {h['img_per_s']:.0f} img/s, prompts "
                  f"{h['text_s']:.1f} s)")
    out = Path(args.out) / "bench_gpu.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
