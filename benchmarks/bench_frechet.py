"""Benchmark: our eigh-based Fréchet distance vs the ``scipy.linalg.sqrtm`` formula, and the
peak memory of streaming :class:`GaussianStats` for growing N.

Run: ``.venv/bin/python benchmarks/bench_frechet.py [--dim 2048] [--samples 5000]``
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.linalg

from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.frechet import frechet_distance


def correlated_features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Non-negative features with a decaying spectrum and dense correlations (pool3-like)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    z = rng.standard_normal((n, d)) * np.linspace(2.0, 0.05, d)
    return np.maximum(z @ mix + 0.5 + shift, 0.0)


def fid_sqrtm(mu1, s1, mu2, s2) -> float:
    """The classic pytorch-fid formula (without its eps retry)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    tr = np.trace(covmean).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def best_time(fn, repeat: int) -> tuple[float, float]:
    """(best wall seconds, value) over ``repeat`` calls."""
    best, value = float("inf"), float("nan")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def stream_peak_mib(n: int, d: int, batch: int) -> float:
    """Peak traced memory (MiB) while streaming ``n`` random rows into GaussianStats."""
    rng = np.random.default_rng(n)
    tracemalloc.start()
    tracemalloc.reset_peak()
    stats = GaussianStats()
    for start in range(0, n, batch):
        stats.update(np.abs(rng.standard_normal((min(batch, n - start), d))))
    _ = stats.cov
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension D")
    parser.add_argument("--samples", type=int, default=5000, help="rows per set for the stats")
    parser.add_argument("--repeat", type=int, default=1, help="timing repeats (best is kept)")
    parser.add_argument(
        "--stream",
        type=int,
        nargs="+",
        default=[10_000, 50_000],
        help="N values for the streaming memory measurement",
    )
    parser.add_argument("--batch", type=int, default=500, help="streaming batch size")
    parser.add_argument("--skip-sqrtm", action="store_true", help="time only our formula")
    args = parser.parse_args()
    d = args.dim

    a = GaussianStats().update(correlated_features(args.samples, d, seed=1))
    b = GaussianStats().update(correlated_features(args.samples, d, seed=2, shift=0.05))
    mu1, s1, mu2, s2 = a.mean, a.cov, b.mean, b.cov

    t_ours, v_ours = best_time(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeat)
    print(f"Fréchet distance, D={d}, stats from {args.samples} correlated rows per set")
    print(f"{'method':<28}{'seconds':>10}{'FID':>18}")
    print(f"{'ours (eigh + eigvalsh)':<28}{t_ours:>10.2f}{v_ours:>18.10f}")
    if not args.skip_sqrtm:
        t_ref, v_ref = best_time(lambda: fid_sqrtm(mu1, s1, mu2, s2), args.repeat)
        print(f"{'scipy.linalg.sqrtm':<28}{t_ref:>10.2f}{v_ref:>18.10f}")
        print(
            f"speed-up: {t_ref / t_ours:.1f}x   relative difference: "
            f"{abs(v_ours - v_ref) / abs(v_ref):.2e}"
        )

    print(f"\nGaussianStats streaming peak memory, D={d}, batch={args.batch}")
    print(f"{'N':>10}{'peak MiB':>12}{'seconds':>10}")
    for n in args.stream:
        start = time.perf_counter()
        peak = stream_peak_mib(n, d, args.batch)
        print(f"{n:>10}{peak:>12.1f}{time.perf_counter() - start:>10.1f}")
    print(f"(one D x D float64 matrix is {d * d * 8 / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
