"""Peak memory of ``genmetrics evaluate`` on worst-case inputs (target: under 2 GB for any
input set at the default batch size; issue 11).

Input sets, built in a temporary folder (each also holds 8 ordinary 64×64 images, so a run
that refuses the odd image still finishes and reports it as skipped):

- ``huge``: 16 PNGs of 9000×9000 (a different tiled pattern each, compress_level 1);
- ``strip-1x2M`` and ``strip-2Mx1``: one 1×2,000,000 and one 2,000,000×1 noise PNG (6 MB);
- ``strip-89Mx1``: one 89,000,000×1 PNG (just under Pillow's bomb limit);
- ``normal``: 200 ordinary 512×512 PNGs.

Each set × protocol runs in its own process under ``/usr/bin/time -v`` (peak RSS = "Maximum
resident set size"), with the reference a folder of 20 small images, ``-m fid`` and
``--no-cache`` (``--with-cache`` adds a fresh feature cache). By default
the backbone is a stand-in whose ``preprocess`` is the real resize protocol and whose forward is
a cheap 16-d reduction, so decode + resize memory is measured faithfully without weights;
``--real-inception`` uses the real network (its weights must be in the cache).

The child runs under an address-space limit (``--max-memory-gb``, default 10) so that a case
that would take the machine's memory fails alone (reported as ``memory-limit``); a case that is
killed or runs past ``--timeout`` is reported as such. Usage:
    python benchmarks/bench_memory.py [--quick] [--cases huge,strip-1x2M] [--protocols tf1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("clean", "tf1", "pytorch-fid")
TARGET_MB = 2048
FILLER = 8

# --------------------------------------------------------------------------- PNG writing


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_stream(
    path: Path, width: int, height: int, blocks: Iterator[bytes], level: int = 1
) -> int:
    """An 8-bit RGB PNG from ``blocks`` of filtered scanline data (each row: a 0 filter byte
    and 3·width samples), compressed as it streams: memory stays at one block."""
    comp = zlib.compressobj(level)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        for block in blocks:
            data = comp.compress(block)
            if data:
                f.write(_chunk(b"IDAT", data))
        f.write(_chunk(b"IDAT", comp.flush()))
        f.write(_chunk(b"IEND", b""))
    return path.stat().st_size


def tiled_rows(width: int, height: int, seed: int, tile: int = 64) -> Iterator[bytes]:
    """A random tile repeated across each row (so deflate compresses it well even at level 1),
    over a vertical gradient; different for every seed."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, 64, (tile, tile, 3), dtype=np.uint8)
    reps = -(-width // tile)
    rows = [np.tile(pattern[y], (reps, 1))[:width] for y in range(tile)]
    for y in range(height):
        shade = np.uint8(y * 191 // max(1, height - 1))
        yield b"\x00" + (rows[y % tile] + shade).tobytes()


def wide_rows(width: int, block: int = 1 << 20) -> Iterator[bytes]:
    """One row of ``width`` pixels (a repeating ramp), streamed in blocks."""
    period = bytes(np.arange(3 * 256, dtype=np.uint16).astype(np.uint8))
    unit = period * (block // len(period))
    left = 3 * width
    yield b"\x00"
    while left:
        n = min(len(unit), left)
        yield unit[:n]
        left -= n


def save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(arr).save(path, compress_level=1)


def ordinary(folder: Path, n: int, size: int, seed: int, prefix: str = "img") -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 255 // size, yy * 255 // size, (xx + yy) * 127 // size], -1)
    for i in range(n):
        arr = np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
        save_png(folder / f"{prefix}{i:04d}.png", np.roll(arr, i * 7, axis=1))


# --------------------------------------------------------------------------- input sets


@dataclass
class Case:
    name: str
    describe: str
    build: Callable[[Path], None]


def _short(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def make_cases(quick: bool) -> list[Case]:
    huge_n, huge_side = (2, 3000) if quick else (16, 9000)
    strip = 200_000 if quick else 2_000_000
    wide = 8_900_000 if quick else 89_000_000
    normal_n = 20 if quick else 200

    def huge(folder: Path) -> None:
        for i in range(huge_n):
            write_png_stream(
                folder / f"huge{i:02d}.png",
                huge_side,
                huge_side,
                tiled_rows(huge_side, huge_side, seed=i),
            )

    def tall(folder: Path) -> None:
        rng = np.random.default_rng(1)
        save_png(folder / "strip.png", rng.integers(0, 256, (strip, 1, 3), dtype=np.uint8))

    def long(folder: Path) -> None:
        rng = np.random.default_rng(2)
        save_png(folder / "strip.png", rng.integers(0, 256, (1, strip, 3), dtype=np.uint8))

    def widest(folder: Path) -> None:
        write_png_stream(folder / "strip.png", wide, 1, wide_rows(wide), level=6)

    def normal(folder: Path) -> None:
        ordinary(folder, normal_n, 512, seed=3, prefix="n")

    k, w = _short(strip), _short(wide)
    return [
        Case("huge", f"{huge_n} x {huge_side}x{huge_side} PNG", huge),
        Case(f"strip-1x{k}", f"1 x {strip:,} PNG (W x H)", tall),
        Case(f"strip-{k}x1", f"{strip:,} x 1 PNG (W x H)", long),
        Case(f"strip-{w}x1", f"{wide:,} x 1 PNG (W x H)", widest),
        Case("normal", f"{normal_n} x 512x512 PNG", normal),
    ]


# --------------------------------------------------------------------------- one run


CHILD = r'''
import json, sys
import numpy as np
cfg = json.loads(sys.argv[1])
if not cfg["real"]:
    import genmetrics.evaluation as ev
    from genmetrics.backbones.registry import Backbone
    from genmetrics.protocols.resize import get_resize_protocol

    class ResizeOnly(Backbone):
        """The real resize protocol, then a 16-d reduction instead of the network."""
        name = "inception"
        outputs = ("pool3", "logits_unbiased")

        def __init__(self, protocol):
            self.protocol = protocol
            self._resize = get_resize_protocol(protocol)

        @property
        def key(self):
            return "bench-resize-only/" + self.protocol

        def preprocess(self, image):
            return self._resize(image, 299)

        def forward(self, batch):
            x = np.asarray(batch, np.float32)
            b = len(x)
            grid = x[:, :, :296, :296].reshape(b, 3, 2, 148, 2, 148).mean(axis=(3, 5))
            feats = np.concatenate(
                [grid.reshape(b, 12), x.std(axis=(2, 3)), x.mean(axis=(1, 2, 3))[:, None]], 1)
            return {"pool3": feats, "logits_unbiased": feats}

    ev.create_backbone = lambda name, opts: ResizeOnly(opts.protocol)
from genmetrics.cli.app import main
code = main(cfg["argv"])
sys.stdout.flush()
raise SystemExit(code)
'''


@dataclass
class Outcome:
    case: str
    protocol: str
    status: str
    code: int | None
    wall_s: float
    peak_mb: float | None
    images: int | None
    skipped: int | None
    note: str

    @property
    def under_target(self) -> str:
        if self.peak_mb is None:
            return "?"
        ok = self.peak_mb < TARGET_MB and self.status == "ok"
        return "yes" if ok else "NO"


def _limit(max_bytes: int | None) -> Callable[[], None]:
    def apply() -> None:
        os.setsid()
        if max_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return apply


def _parse_time(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[key] = value.strip()
    return fields


def run_case(case_dir: Path, ref_dir: Path, work: Path, protocol: str, args) -> Outcome:
    tag = f"{case_dir.name}-{protocol}"
    argv = [
        "evaluate",
        str(case_dir),
        "-r",
        str(ref_dir),
        "-m",
        "fid",
        "--protocol",
        protocol,
        "--batch-size",
        str(args.batch_size),
        "-f",
        "json",
        "--device",
        "cpu",
    ]
    argv += ["--cache-dir", str(work / "cache" / tag)] if args.with_cache else ["--no-cache"]
    cfg = {"real": args.real_inception, "argv": argv}
    stats_file = work / f"time-{tag}.txt"
    env = dict(os.environ)
    if not args.real_inception:
        env["GENMETRICS_HOME"] = str(work / "home" / tag)
    cmd = ["/usr/bin/time", "-v", "-o", str(stats_file), args.python, "-c", CHILD, json.dumps(cfg)]
    max_bytes = int(args.max_memory_gb * 2**30) if args.max_memory_gb > 0 else None
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limit(max_bytes),
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    fields = _parse_time(stats_file.read_text()) if stats_file.exists() else {}
    peak = fields.get("Maximum resident set size (kbytes)")
    peak_mb = int(peak) / 1024 if peak else None
    stderr = err.decode("utf-8", "backslashreplace")
    signalled = (
        re.search(r"Command terminated by signal (\d+)", stats_file.read_text())
        if stats_file.exists()
        else None
    )
    code = int(fields["Exit status"]) if "Exit status" in fields else None
    images = skipped = None
    note = ""
    if timed_out:
        status, code = f"timeout {args.timeout:.0f}s", None
    elif signalled:
        sig = int(signalled.group(1))
        status, code = f"killed by signal {sig}" + (" (OOM?)" if sig == 9 else ""), None
    elif "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        status = "memory-limit"
    elif code == 0:
        status = "ok"
    else:
        status = f"exit {code}" + (" (traceback)" if "Traceback" in stderr else "")
    if code == 0:
        try:
            doc = json.loads(out)
            images = doc["counts"]["generated"]
            skipped = doc["counts"]["generated_skipped"]
            reasons = [s["reason"] for s in doc.get("skipped", [])]
            note = reasons[0] if reasons else ""
            note = re.sub(r"out of memory.*", "out of memory (MemoryError caught)", note)
        except (ValueError, KeyError):
            note = "unparsable JSON"
    if not note and status != "ok":
        lines = [ln for ln in stderr.splitlines() if ln.strip() and "━" not in ln]
        note = lines[-1] if lines else ""
    if "out of memory" in note and status == "ok":
        status = "ok (skipped: OOM)"
    return Outcome(case_dir.name, protocol, status, code, wall, peak_mb, images, skipped, note[:70])


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sets: a smoke run of a minute")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--batch-size", type=int, default=32, help="default: the CLI's default, 32")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per case (default 300)")
    ap.add_argument(
        "--max-memory-gb",
        type=float,
        default=10,
        help="address-space limit of each run (0: none); keeps the machine alive",
    )
    ap.add_argument(
        "--with-cache",
        action="store_true",
        help="use a (fresh) feature cache; default --no-cache: every image is decoded",
    )
    ap.add_argument(
        "--real-inception",
        action="store_true",
        help="use the real Inception (weights must be in $GENMETRICS_HOME)",
    )
    ap.add_argument(
        "--python", default=sys.executable, help="interpreter with genmetrics installed"
    )
    ap.add_argument("--keep", type=Path, default=None, help="build the sets here and keep them")
    args = ap.parse_args()
    if not Path("/usr/bin/time").exists():
        ap.error("/usr/bin/time (GNU time) is required")
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    cases = make_cases(args.quick)
    if args.cases:
        wanted = {c.strip() for c in args.cases.split(",")}
        unknown = wanted - {c.name for c in cases}
        if unknown:
            ap.error(
                f"unknown case(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(c.name for c in cases)}"
            )
        cases = [c for c in cases if c.name in wanted]
    if args.real_inception:
        from genmetrics.backbones.inception.backbone import inception_weight_spec

        if not inception_weight_spec().cached_path().exists():
            ap.error(
                "--real-inception: the Inception weights are not in the cache; "
                "run: genmetrics weights import inception PATH"
            )

    work = args.keep or Path(tempfile.mkdtemp(prefix="gm-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ref = work / "reference"
        if not ref.exists():
            ref.mkdir()
            ordinary(ref, 20, 64, seed=9, prefix="r")
        print(
            f"started {time.strftime('%Y-%m-%d %H:%M:%S')}; backbone: "
            f"{'real Inception' if args.real_inception else 'resize protocol + 16-d reduction'}; "
            f"batch size {args.batch_size}; limit {args.max_memory_gb:g} GB; work {work}"
        )
        sets = []
        for case in cases:
            folder = work / case.name
            if not folder.exists():
                t0 = time.perf_counter()
                folder.mkdir()
                ordinary(folder, FILLER, 64, seed=5, prefix="filler")
                case.build(folder)
                size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
                print(
                    f"built {case.name}: {case.describe} + {FILLER} fillers, {size:.0f} MB on "
                    f"disk, {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
            sets.append(folder)

        outcomes = []
        for folder in sets:
            for protocol in protocols:
                o = run_case(folder, ref, work, protocol, args)
                outcomes.append(o)
                peak = f"{o.peak_mb:.0f}" if o.peak_mb is not None else "?"
                print(
                    f"  {o.case:16s} {o.protocol:12s} {o.status:22s} {peak:>7s} MB "
                    f"{o.wall_s:6.1f} s",
                    flush=True,
                )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    head = (
        f"{'case':16s} {'protocol':12s} {'status':22s} {'exit':>4s} {'wall s':>7s} "
        f"{'peak MB':>8s} {'<2GB':>4s} {'imgs':>5s} {'skip':>4s}  note"
    )
    print()
    print(head)
    print("-" * len(head))
    for o in outcomes:
        peak = f"{o.peak_mb:.0f}" if o.peak_mb is not None else "?"
        print(
            f"{o.case:16s} {o.protocol:12s} {o.status:22s} "
            f"{'-' if o.code is None else o.code:>4} {o.wall_s:7.1f} {peak:>8s} "
            f"{o.under_target:>4s} {'-' if o.images is None else o.images:>5} "
            f"{'-' if o.skipped is None else o.skipped:>4}  {o.note}"
        )
    worst = max((o.peak_mb or 0.0) for o in outcomes) if outcomes else 0.0
    bad = [o for o in outcomes if o.under_target != "yes"]
    print(
        f"\nworst peak RSS {worst:.0f} MB (target < {TARGET_MB} MB); "
        f"{len(bad)} of {len(outcomes)} runs miss the target or failed; "
        f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
