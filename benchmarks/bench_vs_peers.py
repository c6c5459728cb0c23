"""genmetrics vs torch-fidelity, clean-fid and torchmetrics: FID on the same PNGs, same network.

Every tool runs the TF-2015 FID Inception as genmetrics' ``FIDInceptionV3`` with the same
weights (genmetrics' imported safetensors file), plugged into each peer through its own
custom feature-extractor hook; each peer keeps its own decoding, resize, batching and workers
(details in ``peer_runners.py``). Each run is a fresh subprocess, so imports and start-up count;
runs are interleaved (for each repetition: every tool cold, then every tool warm). Times are
the child's wall clock and its CPU (user + sys, its reaped workers included, from ``os.wait4``).

* cold: empty feature cache / no stored statistics (a fresh cache folder per repetition).
* warm: genmetrics with its feature cache filled by the cold run; torch-fidelity re-run with
  its own cache (fixed input names: its statistics are loaded). clean-fid caches nothing for
  folders and torchmetrics reads no files, so their warm time is their cold time.

genmetrics runs once per resize protocol that matches a peer (plus ``clean``, its default):
``clean`` ~ clean-fid, ``tf1`` ~ torch-fidelity, ``pytorch-fid`` ~ torchmetrics (bilinear +
256/255 inside the module given to torchmetrics). Ratios are peer / genmetrics per repetition
(> 1: genmetrics cheaper), shown as min–max over repetitions; "fastest peer" takes, per
repetition and per measure, the cheapest peer. The FID values of matched pairs are compared.

Installing the peers (kept out of pyproject.toml and out of the dev venv: with torch-fidelity
importable but no working torchvision, ``import torchmetrics`` fails, since torchmetrics imports
torch-fidelity, which imports torchvision)::

    .venv/bin/pip install --no-deps --target /tmp/gm-bench-peers torch-fidelity==0.4.0 clean-fid==0.1.35
    .venv/bin/python benchmarks/bench_vs_peers.py --peers-path /tmp/gm-bench-peers --n 200

(their light dependencies: tqdm, requests, scipy, pillow). Without a working torchvision the
peer processes get a minimal stub (``peer_runners.install_torchvision_stub``) that re-implements
the three torchvision functions their folder path calls and nothing else. A peer that is not
installed is skipped with one line. ``--weights random`` uses the real architecture with random
weights (timings unchanged; FID values then only check agreement).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.machinery import PathFinder
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DEFAULT_WEIGHTS = ROOT.parent / "shared/weights/inception/fid_inception_tf20151205_torchscript.pt"
PEERS = ("torch-fidelity", "clean-fid", "torchmetrics")
PEER_MODULE = {"torch-fidelity": "torch_fidelity", "clean-fid": "cleanfid", "torchmetrics": "torchmetrics"}
NAN = float("nan")
MATCH = {"torch-fidelity": "tf1", "clean-fid": "clean", "torchmetrics": "pytorch-fid"}
"""The genmetrics protocol whose resize each peer uses."""


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall s, child CPU s, stdout). stderr goes to ``log``."""
    out = log.with_suffix(".out")
    with open(out, "w") as fo, open(log, "w") as fe:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n" + "\n".join(tail))
    return wall, usage.ru_utime + usage.ru_stime, out.read_text()


def byte_compile(folders: list[Path]) -> None:
    """Write the bytecode of every tool's sources first, as ``pip install`` does: a run from
    a source tree (or with PYTHONDONTWRITEBYTECODE set) would otherwise compile its modules on
    every start and count that as the tool's time."""
    import compileall

    for folder in folders:
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=1)


def available(peer: str, peers_path: str | None) -> bool:
    module = PEER_MODULE[peer]
    if peer == "torchmetrics":
        return find_spec(module) is not None
    return PathFinder.find_spec(module, ([peers_path] if peers_path else []) + sys.path) is not None


def setup_weights(choice: str, work: Path, env: dict[str, str]) -> tuple[Path, str]:
    """Install the Inception for genmetrics (in ``env``'s GENMETRICS_HOME; ``random`` adds the
    plugin variables to ``env``); return the safetensors file the peers load and a description."""
    if choice == "random":
        from random_inception_plugin import write_random_weights

        path = write_random_weights(work / "inception-random.safetensors")
        env["GENMETRICS_PLUGINS"] = "random_inception_plugin"
        env["GENMETRICS_BENCH_INCEPTION"] = str(path)
        return path, "random weights, real architecture"
    if not Path(choice).is_file():
        raise SystemExit(f"--weights {choice}: no such file (or use --weights random)")
    subprocess.run([sys.executable, "-m", "genmetrics", "weights", "import", "inception", choice],
                   env={**env, "PYTHONPATH": str(ROOT / "src")}, check=True, capture_output=True,
                   cwd=ROOT)
    found = sorted((Path(env["GENMETRICS_HOME"]) / "weights" / "inception").glob("*.safetensors"))
    if not found:
        raise SystemExit(f"genmetrics weights import left no safetensors under {env['GENMETRICS_HOME']}")
    return found[0], f"{Path(choice).name} (imported by genmetrics)"


def commands(args, work: Path, weights: Path, rep: int) -> dict[str, tuple[list[str], list[str] | None]]:
    """label -> (cold command, warm command or None when warm = cold)."""
    runs: dict[str, tuple[list[str], list[str] | None]] = {}
    for protocol in args.protocol_list:
        cache = str(work / f"cache-r{rep}" / f"genmetrics-{protocol}")
        cmd = [sys.executable, "-m", "genmetrics", "evaluate", str(work / "gen"), "--reference",
               str(work / "real"), "--metrics", "fid", "--protocol", protocol, "--device", "cpu",
               "--format", "json", "--offline", "--cache-dir", cache]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        cmd += shlex.split(args.genmetrics_args)
        runs[f"genmetrics {protocol}"] = (cmd, cmd)
    for peer in args.peer_list:
        cmd = [sys.executable, str(BENCH / "peer_runners.py"), peer, str(work / "gen"),
               str(work / "real"), str(weights)]
        if peer == "clean-fid" and args.workers:
            cmd += ["--workers", str(args.workers)]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        if peer == "torch-fidelity":
            cmd += ["--cache", str(work / f"cache-r{rep}" / "torch-fidelity")]
            runs[peer] = (cmd, cmd)
        else:
            runs[peer] = (cmd, None)
    return runs


def child_env(base: dict[str, str], label: str, peers_path: str | None) -> dict[str, str]:
    paths = [str(ROOT / "src"), str(BENCH)]
    if label in ("torch-fidelity", "clean-fid") and peers_path:
        paths.insert(0, peers_path)  # torchmetrics must not see torch-fidelity (see module doc)
    return {**base, "PYTHONPATH": os.pathsep.join(paths)}


def parse_fid(label: str, stdout: str) -> float:
    if label.startswith("genmetrics"):
        return float(json.loads(stdout)["metrics"]["fid"]["value"])
    return float(json.loads(stdout.strip().splitlines()[-1])["fid"])


def fmt_range(values: list[float]) -> str:
    values = [v for v in values if v == v]  # a failed run drops out of its ratios
    if not values:
        return "failed"
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def median(values) -> float:
    """Median of the runs that did not fail (nan when all failed)."""
    ok = [v for v in values if v == v]
    return statistics.median(ok) if ok else NAN


def print_times(res: dict, labels: list[str], reps: int) -> None:
    print(f"\nseconds per run (median of {reps}; CPU = user+sys of the child and its workers)")
    print(f"{'tool':24s} {'cold wall':>10s} {'cold CPU':>10s} {'warm wall':>10s} {'warm CPU':>10s}"
          f" {'FID cold':>12s} {'FID warm':>12s}")
    for label in labels:
        cold, warm = res[(label, "cold")], res.get((label, "warm"))
        row = [median(r[i] for r in cold) for i in (0, 1)]
        w = [f"{median(r[i] for r in warm):10.2f}" for i in (0, 1)] if warm else [f"{'= cold':>10s}"] * 2
        fid_warm = f"{first_fid(res, label, 'warm'):.6f}" if warm else "= cold"
        print(f"{label:24s} {row[0]:10.2f} {row[1]:10.2f} {w[0]} {w[1]} {first_fid(res, label):12.6f}"
              f" {fid_warm:>12s}")


def cheapest(values: list[float]) -> float:
    ok = [v for v in values if v == v]
    return min(ok) if ok else NAN


def print_ratios(res: dict, protocols: list[str], peers: list[str], reps: int) -> None:
    def runs(label: str, mode: str) -> list[tuple[float, float, float]]:
        return res.get((label, mode)) or res[(label, "cold")]

    for mode in ("cold", "warm"):
        print(f"\n{mode}: peer / genmetrics, CPU | wall (>1: genmetrics cheaper; min-max over "
              f"{reps} reps; * = same resize)")
        print(f"{'genmetrics':12s}" + "".join(f"  {p:^22s}" for p in [*peers, "fastest peer"]))
        for protocol in protocols:
            mine = runs(f"genmetrics {protocol}", mode)
            cells = []
            for peer in peers:
                theirs = runs(peer, mode)
                cpu = [t[1] / m[1] for t, m in zip(theirs, mine, strict=True)]
                wall = [t[0] / m[0] for t, m in zip(theirs, mine, strict=True)]
                star = "*" if MATCH[peer] == protocol else " "
                cells.append(f"{fmt_range(cpu):>9s} | {fmt_range(wall):9s}{star}")
            cpu = [cheapest([runs(p, mode)[r][1] for p in peers]) / mine[r][1] for r in range(reps)]
            wall = [cheapest([runs(p, mode)[r][0] for p in peers]) / mine[r][0] for r in range(reps)]
            cells.append(f"{fmt_range(cpu):>9s} | {fmt_range(wall):9s} ")
            print(f"{protocol:12s}" + "".join(f"  {c:22s}" for c in cells))
        for i, what in ((1, "CPU"), (0, "wall")):
            best = min(peers, key=lambda p: (m if (m := median(r[i] for r in runs(p, mode))) == m
                                             else float("inf")))
            print(f"  cheapest peer by median {what}: {best}")


def first_fid(res: dict, label: str, mode: str = "cold") -> float:
    return next((r[2] for r in res.get((label, mode), []) if r[2] == r[2]), NAN)


def print_agreement(res: dict, protocols: list[str], peers: list[str]) -> None:
    print("\nFID agreement (first successful cold run; matched resize):")
    for peer in peers:
        mine, a = f"genmetrics {MATCH[peer]}", first_fid(res, peer)
        if MATCH[peer] not in protocols:
            print(f"  {peer}: {a:.6f} (no genmetrics {MATCH[peer]} run)")
            continue
        b = first_fid(res, mine)
        note = " (torchmetrics returns float32)" if peer == "torchmetrics" else ""
        print(f"  {peer:15s} {a:14.6f} vs {mine:24s} {b:14.6f}: relative difference "
              f"{abs(a - b) / abs(b):.1e}{note}")
    for protocol in protocols:
        vals = [r[2] for mode in ("cold", "warm") for r in res[(f"genmetrics {protocol}", mode)]
                if r[2] == r[2]]
        if vals:
            spread = (max(vals) - min(vals)) / abs(vals[0])
            print(f"  genmetrics {protocol}: its {len(vals)} cold and warm runs agree within "
                  f"{spread:.1e} relative")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="images per set (two sets)")
    ap.add_argument("--size", type=int, default=512, help="PNG side")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS) if DEFAULT_WEIGHTS.is_file() else "random",
                    help="an Inception file genmetrics can import, or 'random' "
                         "(default: the shared TorchScript when present)")
    ap.add_argument("--tools", default="genmetrics," + ",".join(PEERS))
    ap.add_argument("--protocols", default="auto",
                    help="genmetrics protocols (default: clean plus those matching the peers)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP/MKL threads of every child (default: each tool's default)")
    ap.add_argument("--workers", type=int, default=None,
                    help="genmetrics --workers and clean-fid num_workers (default: their own)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="images per forward in every tool (default: each tool's own: genmetrics "
                         "32 on CPU, torch-fidelity 64, clean-fid 32, torchmetrics loop 32)")
    ap.add_argument("--genmetrics-args", default="",
                    help="extra options for every genmetrics run, e.g. '--batch-size 32'")
    ap.add_argument("--peers-path", default=os.environ.get("GENMETRICS_BENCH_PEERS"),
                    help="folder holding torch_fidelity and cleanfid (pip install --target)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - {"genmetrics", *PEERS}
    if unknown:
        ap.error(f"unknown tools {sorted(unknown)}")
    args.peer_list = []
    for peer in [p for p in PEERS if p in tools]:
        if available(peer, args.peers_path):
            args.peer_list.append(peer)
        else:
            print(f"skipping {peer}: not importable (see the install line in this script's docstring)")
    if "genmetrics" not in tools:
        ap.error("genmetrics is the subject of every ratio; keep it in --tools")
    if args.protocols == "auto":
        wanted = {"clean", *(MATCH[p] for p in args.peer_list)}
        args.protocol_list = [p for p in ("clean", "tf1", "pytorch-fid") if p in wanted]
    else:
        args.protocol_list = [p.strip() for p in args.protocols.split(",") if p.strip()]
    return args


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(BENCH))
    from bench_evaluate import make_images

    work = Path(tempfile.mkdtemp(prefix="gm-vs-peers-"))
    base = {**os.environ, "GENMETRICS_HOME": str(work / "home")}
    if args.threads:
        base.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    try:
        byte_compile([ROOT / "src" / "genmetrics", BENCH, *([Path(args.peers_path)] if args.peers_path else [])])
        weights, how = setup_weights(args.weights, work, base)
        make_images(work / "gen", args.n, 1, size=(args.size, args.size))
        make_images(work / "real", args.n, 2, size=(args.size, args.size))
        labels = [f"genmetrics {p}" for p in args.protocol_list] + args.peer_list
        print(f"{args.n} + {args.n} PNGs {args.size}x{args.size} (skimage photo crops + noise); "
              f"weights: {how}; {os.cpu_count()} CPUs; threads: {args.threads or 'tool default'}; "
              f"workers: {args.workers or 'tool default'}; batch: {args.batch_size or 'tool default'}; "
              f"load average {os.getloadavg()[0]:.1f}")
        res: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for rep in range(args.reps):
            runs = commands(args, work, weights, rep)
            for mode, index in (("cold", 0), ("warm", 1)):
                for label in labels:
                    cmd = runs[label][index]
                    if cmd is None:
                        continue
                    env = child_env(base, label, args.peers_path)
                    log = work / f"{label.replace(' ', '-')}-{mode}-r{rep}.log"
                    try:
                        wall, cpu, out = timed(cmd, env, log)
                        fid = parse_fid(label, out)
                    except (RuntimeError, ValueError, KeyError) as exc:  # reported, not fatal
                        print(f"  rep {rep + 1} {mode:4s} {label:24s} FAILED: {exc}", flush=True)
                        wall = cpu = fid = NAN
                    res.setdefault((label, mode), []).append((wall, cpu, fid))
                    if fid == fid:
                        print(f"  rep {rep + 1} {mode:4s} {label:24s} wall {wall:8.2f} s  "
                              f"CPU {cpu:8.2f} s  FID {fid:.6f}", flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (shared machines make this noisy)")
        print_times(res, labels, args.reps)
        if args.peer_list:
            print_ratios(res, args.protocol_list, args.peer_list, args.reps)
            print_agreement(res, args.protocol_list, args.peer_list)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
