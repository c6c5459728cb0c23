"""Builders of bad inputs, the in-process and subprocess CLI runners, and the assertions every
case of the corpus shares.

Rules checked by :func:`assert_user_error`: the exit code; exactly one ``error: `` line on
stderr that names the offending file or option; every other stderr line a ``warning: `` line
or a progress bar; no ``Traceback`` anywhere (an exception escaping ``main`` counts as one).
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import traceback
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genmetrics.cli.app import main
from tests.conftest import ROOT
from tests.fakes import PixelBackbone, patch_backbones, write_images

PROGRESS = re.compile(r"\s\d+/\d+\s+(\d+:)?\d+:\d\d")
"""A rich progress-bar line (``generated images ━━━ 5/5 0:00:00 0:00:00``)."""

N_GOOD = 6
"""Good images in each of the default generated and reference folders."""


# --------------------------------------------------------------------------- results


@dataclass
class CliResult:
    """What one CLI run left behind. ``code`` is None when an exception escaped ``main``
    (its traceback is then appended to ``err``)."""

    code: int | None
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.lines if line.startswith("error: ")]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("warning: ")]

    @property
    def other_lines(self) -> list[str]:
        return [
            line
            for line in self.lines
            if not line.startswith(("error: ", "warning: ")) and not PROGRESS.search(line)
        ]

    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.out)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"stdout is not JSON ({exc}):\n{self.out}\nstderr:\n{self.err}"
            ) from None

    def describe(self) -> str:
        return f"exit code {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


def assert_no_traceback(res: CliResult) -> None:
    assert "Traceback" not in res.out + res.err, res.describe()
    assert res.code is not None, res.describe()


def assert_user_error(res: CliResult, *needles: str, code: int = 2) -> str:
    """Exit ``code``, one ``error:`` line containing every needle, nothing else but warnings
    and progress bars on stderr. Returns the error line."""
    assert_no_traceback(res)
    assert res.code == code, res.describe()
    assert len(res.errors) == 1, f"expected exactly one 'error: ' line\n{res.describe()}"
    assert not res.other_lines, f"unexpected stderr lines {res.other_lines}\n{res.describe()}"
    line = res.errors[0]
    for needle in needles:
        assert needle in line, f"{needle!r} not named in the error line {line!r}"
    return line


def assert_skipped(res: CliResult, name: str, generated: int) -> dict[str, Any]:
    """Exit 0, the JSON result counts ``generated`` images and lists ``name`` as skipped, and a
    ``warning:`` line names it. Returns the parsed JSON."""
    assert_no_traceback(res)
    assert res.code == 0, res.describe()
    assert not res.errors, res.describe()
    assert not res.other_lines, f"unexpected stderr lines {res.other_lines}\n{res.describe()}"
    doc = res.json()
    assert doc["counts"]["generated"] == generated, doc["counts"]
    hits = [s for s in doc["skipped"] if name in s["path"]]
    assert hits, f"{name!r} not in skipped: {doc['skipped']}"
    assert all(s["reason"] for s in hits)
    assert doc["counts"]["generated_skipped"] >= len(hits), doc["counts"]
    assert any(name in w for w in res.warnings), f"no warning names {name!r}\n{res.describe()}"
    return doc


def assert_counted(res: CliResult, generated: int) -> dict[str, Any]:
    """Exit 0 and every image read: nothing skipped."""
    assert_no_traceback(res)
    assert res.code == 0, res.describe()
    assert not res.errors, res.describe()
    doc = res.json()
    assert doc["counts"]["generated"] == generated, (doc["counts"], doc["skipped"])
    assert doc["counts"]["generated_skipped"] == 0, doc["skipped"]
    return doc


# --------------------------------------------------------------------------- runners


Runner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``cli(*args)`` runs ``genmetrics.cli.app.main`` in this process."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        tb = ""
        try:
            code: int | None = main([os.fspath(a) if isinstance(a, Path) else str(a) for a in args])
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - an escaping exception is the finding
            code, tb = None, traceback.format_exc()
        out, err = capsys.readouterr()
        return CliResult(code, out, err + tb)

    return run


_PROCESS_MAIN = (
    "import sys, tests.fakes as f\n"
    "from genmetrics import catalog\n"
    "catalog.load()\n"
    "f.patch_all_backbones_in_process(f.PixelBackbone())\n"
    "{extra}\n"
    "from genmetrics.cli.app import main\n"
    "code = main([a for a in sys.argv[1:]])\n"
    "sys.stdout.flush()\n"
    "raise SystemExit(code)\n"
)


def run_process(
    args: Sequence[str | bytes | os.PathLike[str] | os.PathLike[bytes]],
    *,
    env: dict[str, str] | None = None,
    extra: str = "",
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a real process (fake backbone patched in; ``extra`` is Python run before
    ``main``). Arguments may be bytes (non-UTF-8 file names reach ``sys.argv`` as on a shell)."""
    code = _PROCESS_MAIN.format(extra=extra)
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    argv: list[Any] = [sys.executable, "-c", code, *(os.fsencode(a) for a in args)]
    return subprocess.run(
        argv, cwd=ROOT, env=full_env, capture_output=True, timeout=timeout, preexec_fn=preexec_fn
    )


def process_result(proc: subprocess.CompletedProcess[bytes]) -> CliResult:
    return CliResult(
        proc.returncode,
        proc.stdout.decode("utf-8", "backslashreplace"),
        proc.stderr.decode("utf-8", "backslashreplace"),
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> PixelBackbone:
    bb = PixelBackbone()
    patch_backbones(monkeypatch, lambda name, opts: bb)
    return bb


@dataclass
class Sets:
    gen: Path
    real: Path
    root: Path

    def evaluate(self, *extra: object, gen: Path | None = None) -> list[object]:
        """argv of a default FID run of ``gen`` (or the good folder) as JSON."""
        return ["evaluate", gen or self.gen, "-r", self.real, "-m", "fid", "-f", "json", *extra]


@pytest.fixture
def sets(tmp_path: Path) -> Sets:
    write_images(tmp_path / "gen", N_GOOD, seed=1)
    write_images(tmp_path / "real", N_GOOD, seed=2)
    return Sets(tmp_path / "gen", tmp_path / "real", tmp_path)


# --------------------------------------------------------------------------- image builders


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (32, 24), seed: int = 0) -> bytes:
    return encode(Image.fromarray(noise(size[1], size[0], seed=seed)), "PNG")


def jpeg_bytes(size: tuple[int, int] = (64, 48), seed: int = 0, **params: Any) -> bytes:
    return encode(Image.fromarray(noise(size[1], size[0], seed=seed)), "JPEG", quality=90, **params)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _zero_rows(row_bytes: int, height: int, block: int = 1 << 20) -> Iterator[bytes]:
    """The raw (filtered) scanlines of an all-zero image, in blocks of at most ``block``
    bytes, without ever holding a whole row of a very wide image."""
    line = row_bytes + 1  # filter byte + samples
    if line <= block:
        rows_per_block = max(1, block // line)
        done = 0
        while done < height:
            n = min(rows_per_block, height - done)
            yield bytes(line * n)
            done += n
        return
    for _ in range(height):
        left = line
        while left:
            n = min(block, left)
            yield bytes(n)
            left -= n


def write_png(
    path: Path,
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    color_type: int = 2,
    raw: bytes | None = None,
    idat: bytes | None = None,
) -> Path:
    """A PNG written by hand. ``raw`` is the filtered scanline data (default: all zeros,
    streamed, so 89,000,000×1 costs a few hundred KB); ``idat`` overrides the compressed data
    (for headers that promise more than the file holds)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        comp = zlib.compressobj(6)
        if raw is not None:
            idat = comp.compress(raw) + comp.flush()
        else:
            bits = width * _CHANNELS[color_type] * bit_depth
            parts = [comp.compress(block) for block in _zero_rows((bits + 7) // 8, height)]
            idat = b"".join(parts) + comp.flush()
    data = (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def png16_rgb(path: Path, width: int = 20, height: int = 16) -> Path:
    """A 16-bit-per-sample RGB PNG (Pillow cannot write one)."""
    rng = np.random.default_rng(3)
    samples = rng.integers(0, 65536, (height, width * 3), dtype=np.uint16).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in samples)
    return write_png(path, width, height, bit_depth=16, color_type=2, raw=raw)


def palette_png_with_transparency(path: Path) -> Path:
    img = Image.fromarray(noise(24, 32, seed=4)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16
    )
    img.save(path, transparency=0)
    return path


def la_png(path: Path) -> Path:
    Image.fromarray(noise(24, 32, channels=2, seed=5), mode="LA").save(path)
    return path


def cmyk_jpeg(path: Path) -> Path:
    Image.fromarray(noise(24, 32, seed=6)).convert("CMYK").save(path, quality=90)
    return path


def gif(path: Path) -> Path:
    Image.fromarray(noise(24, 32, seed=7)).convert("P").save(path, format="GIF")
    return path


def _tiff_entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    return struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")


def exif_block(entries: Sequence[bytes], declared: int | None = None) -> bytes:
    """An EXIF APP1 payload (big-endian TIFF) with the given IFD0 entries; ``declared`` lies
    about how many entries follow."""
    ifd = struct.pack(">H", len(entries) if declared is None else declared) + b"".join(entries)
    return b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)


def jpeg_with_exif(path: Path, exif: bytes) -> Path:
    path.write_bytes(jpeg_bytes((40, 30), seed=8, exif=exif))
    return path


def exif_orientation_as_text(path: Path) -> Path:
    """Orientation (0x0112) stored as ASCII text instead of a SHORT."""
    return jpeg_with_exif(path, exif_block([_tiff_entry(0x0112, 2, 4, b"abc\x00")]))


def exif_orientation_out_of_file(path: Path) -> Path:
    """Orientation claims 1,000,000 SHORTs at an offset past the end; IFD0 claims 40
    entries but holds one."""
    entry = _tiff_entry(0x0112, 3, 1_000_000, struct.pack(">I", 0x7FFF_FFF0))
    return jpeg_with_exif(path, exif_block([entry], declared=40))


def bomb_png(path: Path) -> Path:
    """Declares 100,000 × 100,000 RGB (30 GB decoded) in a file of a few dozen bytes."""
    return write_png(path, 100_000, 100_000, idat=zlib.compress(bytes(64)))


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unreadable_dir_link(path: Path) -> Path:
    """A sub-folder the walk cannot list. Root ignores permission bits, so link to a kernel
    folder that even root may not list; as another user, chmod 000 a real folder."""
    if os.geteuid() != 0:
        path.mkdir()
        (path / "hidden.png").write_bytes(png_bytes())
        path.chmod(0)
        return path
    for candidate in ("/proc/1/map_files", "/proc/1/root", "/proc/1/fdinfo"):
        try:
            os.listdir(candidate)
        except PermissionError:
            os.symlink(candidate, path, target_is_directory=True)
            return path
        except OSError:
            continue
    pytest.skip("no folder here that root cannot list")


# --------------------------------------------------------------------------- source builders


def corrupt_zip(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + os.urandom(300))
    return path


def zip_with_corrupt_member(path: Path, good: int = N_GOOD) -> Path:
    """A zip of ``good`` PNGs plus ``broken.png`` whose stored bytes were damaged after
    writing (its CRC no longer matches)."""
    payload = png_bytes((40, 40), seed=99)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(good):
            zf.writestr(f"img{i:03d}.png", png_bytes(seed=i))
        zf.writestr("broken.png", payload)
    data = bytearray(path.read_bytes())
    at = bytes(data).index(payload) + len(payload) // 2
    data[at : at + 16] = bytes(16)
    path.write_bytes(bytes(data))
    return path


def truncated_targz(path: Path, good: int = N_GOOD) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(good):
            blob = png_bytes(seed=i)
            info = tarfile.TarInfo(f"img{i:03d}.png")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


# --------------------------------------------------------------------------- reference stats


def write_npz(path: Path, **arrays: Any) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def good_stats(dim: int = 64) -> dict[str, np.ndarray]:
    return {"mu": np.zeros(dim), "sigma": np.eye(dim), "n": np.int64(100)}
