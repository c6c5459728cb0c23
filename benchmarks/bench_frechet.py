"""Benchmark: our Fréchet distance (square-root factors, then the singular values of their
product) vs the ``scipy.linalg.sqrtm`` formula; its accuracy where genuine eigenvalues are
tiny; the per-style cost (8 styles x 100 rows against one reference: the exact n x n route
from the rows vs the D x D route per style); and the peak memory of streaming
:class:`GaussianStats` for growing N.

Run: ``.venv/bin/python benchmarks/bench_frechet.py [--dim 2048] [--samples 5000]``
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.linalg

from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.functional.frechet import frechet_distance, frechet_distance_from_stats


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


def accuracy(d: int) -> None:
    """Commuting S1 = Q diag(w) Q^T, S2 = Q diag(c) Q^T: Tr sqrt(S1 S2) = sum sqrt(w c) exactly,
    with products down to 1e-16 of the largest (DINOv2-like tiny genuine eigenvalues)."""
    rng = np.random.default_rng(d)
    q = np.eye(d)
    for _ in range(3):
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        q -= 2.0 * np.outer(q @ v, v)
    w, c = np.geomspace(1.0, 1e-8, d), np.geomspace(2.0, 2e-8, d)
    s1, s2 = (q * w) @ q.T, (q * c) @ q.T
    mu1, mu2 = np.zeros(d), np.full(d, 1e-3)
    exact = float(mu2 @ mu2 + ((np.sqrt(w) - np.sqrt(c)) ** 2).sum())
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = fid_sqrtm(mu1, s1, mu2, s2)
    print(f"\naccuracy, D={d}, eigenvalue products down to 1e-16 (exact {exact:.12f})")
    print(f"{'ours':<28}relative error {abs(ours - exact) / exact:.1e}")
    print(f"{'scipy.linalg.sqrtm':<28}relative error {abs(ref - exact) / exact:.1e}")


def per_style(d: int, n_ref: int, styles: int = 8, rows: int = 100) -> None:
    """The benchmark's per-style FID: ``styles`` sets of ``rows`` against one reference."""
    x = correlated_features(styles * rows, d, seed=3, shift=0.05)
    ref = GaussianStats().update(correlated_features(n_ref, d, seed=4))
    parts = [x[i * rows:(i + 1) * rows] for i in range(styles)]
    start = time.perf_counter()
    by_rows = [frechet_distance_from_stats(GaussianStats().update(p), ref, rows_a=p, warn=False)
               for p in parts]
    t_rows = time.perf_counter() - start
    start = time.perf_counter()
    dd = [frechet_distance(p.mean(0), np.cov(p, rowvar=False), ref.mean, ref.cov) for p in parts[:2]]
    t_dd = (time.perf_counter() - start) / 2
    gap = max(abs(a - b) / b for a, b in zip(by_rows[:2], dd, strict=True))
    print(f"\nper-style FID, D={d}, {styles} styles x {rows} rows vs a reference of {n_ref}")
    print(f"{'n x n route (rows)':<28}{t_rows / styles:>10.3f} s/style (reference factored once, "
          f"{t_rows:.2f} s in all)")
    print(f"{'D x D route':<28}{t_dd:>10.3f} s/style; relative difference {gap:.1e}")


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

    n = args.samples
    t_chol, v_chol = best_time(lambda: frechet_distance(mu1, s1, mu2, s2, n1=n, n2=n), args.repeat)
    t_eig, v_eig = best_time(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeat)
    print(f"Fréchet distance, D={d}, stats from {args.samples} correlated rows per set")
    print(f"{'method':<28}{'seconds':>10}{'FID':>18}")
    print(f"{'ours, N known (Cholesky)':<28}{t_chol:>10.2f}{v_chol:>18.10f}")
    print(f"{'ours, N unknown (eigh)':<28}{t_eig:>10.2f}{v_eig:>18.10f}")
    if not args.skip_sqrtm:
        t_ref, v_ref = best_time(lambda: fid_sqrtm(mu1, s1, mu2, s2), args.repeat)
        print(f"{'scipy.linalg.sqrtm':<28}{t_ref:>10.2f}{v_ref:>18.10f}")
        print(
            f"speed-up: {t_ref / t_chol:.1f}x (N known), {t_ref / t_eig:.1f}x (N unknown)   "
            f"relative difference: {abs(v_chol - v_ref) / abs(v_ref):.2e}"
        )
        accuracy(min(d, 512))
    per_style(d, args.samples)

    print(f"\nGaussianStats streaming peak memory, D={d}, batch={args.batch}")
    print(f"{'N':>10}{'peak MiB':>12}{'seconds':>10}")
    for n in args.stream:
        start = time.perf_counter()
        peak = stream_peak_mib(n, d, args.batch)
        print(f"{n:>10}{peak:>12.1f}{time.perf_counter() - start:>10.1f}")
    print(f"(one D x D float64 matrix is {d * d * 8 / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
