"""End-to-end speed of genmetrics vs torchmetrics on the same images, weights and machine.

genmetrics: FID + KID + IS + precision/recall from one pass (each image decoded once, one
Inception forward per image), then a cached re-run. torchmetrics: FrechetInceptionDistance,
KernelInceptionDistance and InceptionScore as three separate metrics, each given the same
Inception network (our FIDInceptionV3 with the same weights, wrapped as torchmetrics'
custom ``feature`` module, with the same bilinear resize), images decoded with Pillow.

Prints images/s, peak RSS and the ratios. Usage:
    python benchmarks/bench_evaluate.py --n 200 [--weights PATH] [--batch-size 32]
Without --weights, random weights of the same architecture (with the 1008-way fc that IS needs)
are used: the speed is the same.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_images(folder: Path, n: int, seed: int, size=(256, 256)) -> list[Path]:
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        src = photos[i % len(photos)]
        h, w = src.shape[:2]
        y, x = rng.integers(0, h - 200), rng.integers(0, w - 200)
        crop = src[y : y + 200, x : x + 200].astype(np.int16) + rng.integers(-20, 20, (200, 200, 3))
        img = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize(size)
        p = folder / f"{i:05d}.png"
        img.save(p)
        paths.append(p)
    return paths


def install_weights(weights: str | None) -> str:
    from genmetrics.backbones.inception.backbone import inception_weight_spec
    from genmetrics.weights.store import import_weights

    spec = inception_weight_spec()
    source = weights  # the shared TorchScript has no fc (no IS), so default to random weights
    if source:
        import_weights(spec, source)
        return f"imported {Path(source).name}"
    from safetensors.torch import save_file

    from genmetrics.backbones.inception.network import FIDInceptionV3
    from genmetrics.weights.store import _write_marker, sha256_file  # noqa: PLC2701

    net = FIDInceptionV3()
    target = spec.cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(target))
    _write_marker(target, sha256_file(target))
    return "random weights (real architecture)"


class TorchmetricsFeature(torch.nn.Module):
    """Our Inception as torchmetrics' custom feature extractor (uint8 N×3×H×W in)."""

    def __init__(self, net, output: str, num_features: int) -> None:
        super().__init__()
        self.net = net
        self.output = output
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x, taps=(self.output,))[self.output]


def run_torchmetrics(gen: list[Path], real: list[Path], net, batch: int) -> float:
    from PIL import Image
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    pool = TorchmetricsFeature(net, "pool3", 2048)
    logits = TorchmetricsFeature(net, "logits_unbiased", 1008)
    fid = FrechetInceptionDistance(feature=pool)
    kid = KernelInceptionDistance(feature=pool, subset_size=min(100, len(gen)))
    inc = InceptionScore(feature=logits)

    def batches(paths):
        for s in range(0, len(paths), batch):
            arr = [np.asarray(Image.open(p).convert("RGB")) for p in paths[s : s + batch]]
            yield torch.from_numpy(np.stack(arr)).permute(0, 3, 1, 2).contiguous()

    t0 = time.perf_counter()
    with torch.inference_mode():
        for metric in (fid, kid):
            for b in batches(real):
                metric.update(b, real=True)
            for b in batches(gen):
                metric.update(b, real=False)
        for b in batches(gen):
            inc.update(b)
        fid.compute(), kid.compute(), inc.compute()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images per set")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--protocol", default="pytorch-fid")
    ap.add_argument("--skip-torchmetrics", action="store_true", help="only ours: cold vs cached")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gm-bench-"))
    os.environ["GENMETRICS_HOME"] = str(work / "home")
    import genmetrics
    from genmetrics.backbones.inception.convert import load_inception

    how = install_weights(args.weights)
    gen = make_images(work / "gen", args.n, 1)
    real = make_images(work / "real", args.n, 2)
    total = 2 * args.n
    print(f"{args.n} generated + {args.n} reference PNGs, 256x256; weights: {how}; "
          f"torch threads {torch.get_num_threads()}; protocol {args.protocol}")

    metrics = "fid,kid,is,precision,recall"
    t0 = time.perf_counter()
    cold = genmetrics.evaluate(work / "gen", work / "real", metrics, protocol=args.protocol,
                               batch_size=args.batch_size, kid_subset_size=min(100, args.n))
    t_cold = time.perf_counter() - t0
    rss_ours = peak_rss_mb()
    t0 = time.perf_counter()
    genmetrics.evaluate(work / "gen", work / "real", metrics, protocol=args.protocol,
                        batch_size=args.batch_size, kid_subset_size=min(100, args.n))
    t_warm = time.perf_counter() - t0

    t_tm = float("nan")
    if not args.skip_torchmetrics:
        net = load_inception(genmetrics.backbones.inception.backbone.inception_weight_spec().cached_path()).eval()
        t_tm = run_torchmetrics(gen, real, net, args.batch_size)
    rss_all = peak_rss_mb()

    print(f"{'run':44s} {'seconds':>9s} {'images/s':>9s}")
    print(f"{'genmetrics cold (FID+KID+IS+P/R, one pass)':44s} {t_cold:9.2f} {total / t_cold:9.1f}")
    print(f"{'genmetrics cached re-run':44s} {t_warm:9.2f} {total / t_warm:9.1f}")
    print(f"{'torchmetrics FID + KID + IS (separate)':44s} {t_tm:9.2f} {total / t_tm:9.1f}")
    print(f"speed-up vs torchmetrics: {t_tm / t_cold:.2f}x (target >= 2.5x)")
    print(f"cached re-run vs cold:    {t_cold / t_warm:.1f}x (target >= 50x)")
    print(f"peak RSS: genmetrics {rss_ours:.0f} MB; after torchmetrics {rss_all:.0f} MB")
    print(f"FID ours {cold['fid']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
