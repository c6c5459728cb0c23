"""Images/s of ``genmetrics evaluate`` (FID + KID + IS + P/R on the FID Inception, random
weights, cold cache) in one process and sharded over torchrun processes; prints the speed-up
and scaling efficiency (speed-up / processes). With ``--gpu`` it also times one GPU.

    python benchmarks/bench_distributed.py [--images 96] [--processes 1,2] [--threads 1] [--gpu]

Each configuration runs in fresh processes with its own empty cache, and checks that the
numbers equal those of the single process (FID to 1e-9 relative).
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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from random_inception_plugin import write_random_weights  # noqa: E402


def _images(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:05d}.png", compress_level=1)


def _run(processes: int, device: str, root: Path, weights: Path, threads: int | None) -> tuple[float, dict]:
    env = {**os.environ, "GENMETRICS_PLUGINS": "random_inception_plugin",
           "GENMETRICS_BENCH_INCEPTION": str(weights),
           "GENMETRICS_HOME": tempfile.mkdtemp(dir=root),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks")]),
           "OMP_NUM_THREADS": str(threads or max(1, (os.cpu_count() or 1) // processes))}
    launcher = [sys.executable, "-m", "genmetrics"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(processes), "-m", "genmetrics"]
    args = [*launcher, "evaluate", str(root / "gen"), "--reference", str(root / "real"),
            "--metrics", "fid,kid,is,precision,recall", "--format", "json", "--device", device,
            "--kid-subset-size", "32", "--is-splits", "2", "--batch-size", "16"]
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return seconds, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="images per set (two sets)")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: the CPUs shared out); 1 shows "
                             "how processes scale over cores")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _images(root / "gen", args.images, 1)
        _images(root / "real", args.images, 2)
        weights = write_random_weights(root / "inception.safetensors")
        total = 2 * args.images
        configs = [(int(p), "cpu") for p in args.processes.split(",")]
        if args.gpu:
            configs.append((1, "cuda"))
        base = None
        print(f"{'config':>12} {'seconds':>8} {'img/s':>7} {'speed-up':>8} {'efficiency':>10}")
        for processes, device in configs:
            seconds, out = _run(processes, device, root, weights, args.threads)
            if base is None:
                base, first = seconds, out
            else:
                a, b = first["metrics"]["fid"]["value"], out["metrics"]["fid"]["value"]
                assert abs(a - b) <= 1e-9 * abs(a) + 1e-12, (a, b)
            speedup = base / seconds
            label = f"{processes}x{device}"
            print(f"{label:>12} {seconds:8.1f} {total / seconds:7.1f} {speedup:8.2f} "
                  f"{speedup / processes:10.2f}")


if __name__ == "__main__":
    main()
