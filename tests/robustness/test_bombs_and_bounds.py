"""Memory bounds against crafted inputs to ``genmetrics evaluate`` (issue 17).

Documented behaviour: an archive member is read within the decode policy's limits (declared
size, compression ratio, a bounded read) and refused early with one ``warning:`` line naming
``archive!member``; the images of an ADM reference batch go through the same decode path and
pixel budget as a folder's; a float image with NaN or infinite pixels is skipped and counted
(an ``error:`` line under ``--strict``). Memory is measured in-process with tracemalloc
(numpy arrays and Python bytes are traced), on small files that declare or inflate to much
more.
"""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmetrics.sources import archives
from tests.fakes import PixelBackbone
from tests.robustness.conftest import (
    N_GOOD,
    CliResult,
    Runner,
    Sets,
    assert_skipped,
    assert_user_error,
    png_bytes,
)

MB = 1 << 20


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One run first: the first evaluate of a process imports (and allocates) a lot once."""
    from genmetrics.cli.app import main
    from tests.fakes import patch_backbones, write_images

    root = tmp_path_factory.mktemp("warm")
    write_images(root / "a", 3, seed=1)
    write_images(root / "b", 3, seed=2)
    bb = PixelBackbone()
    with pytest.MonkeyPatch.context() as mp:
        patch_backbones(mp, lambda name, opts: bb)
        main(["evaluate", str(root / "a"), "-r", str(root / "b"), "-m", "fid,precision", "-f", "json",
              "--no-cache"])


def _traced(run: Callable[[], CliResult]) -> tuple[CliResult, int]:
    tracemalloc.start()
    try:
        res = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return res, peak


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _zip(path: Path, members: dict[str, int | bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method, compresslevel=1 if method == zipfile.ZIP_DEFLATED else None) as zf:
        for i in range(N_GOOD):
            zf.writestr(f"img{i:03d}.png", png_bytes(seed=i))
        for name, content in members.items():
            with zf.open(name, "w", force_zip64=True) as f:
                if isinstance(content, bytes):
                    f.write(content)
                else:
                    for _ in range(content // MB):
                        f.write(bytes(MB))
    return path


def _tar(path: Path, members: dict[str, int | bytes], mode: str) -> Path:
    with tarfile.open(path, mode) as tf:
        for i in range(N_GOOD):
            blob = png_bytes(seed=i)
            info = tarfile.TarInfo(f"img{i:03d}.png")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content) if isinstance(content, bytes) else content
            tf.addfile(info, io.BytesIO(content) if isinstance(content, bytes) else _Zeros(content))
    return path


def _padded_png(size: int) -> bytes:
    """A valid 32x24 PNG followed by zeros up to ``size`` bytes: no image that small needs it."""
    png = png_bytes()
    return png + bytes(size - len(png))


# (id, archive builder, member named in the warning, settings to shrink the limits)
BOMBS: list[tuple[str, Callable[[Path], Path], str, dict[str, int]]] = [
    ("zip-deflate-ratio-1000", lambda d: _zip(d / "bomb.zip", {"huge.png": 48 * MB}), "huge.png", {}),
    ("zip-declared-over-limit", lambda d: _zip(d / "big.zip", {"big.png": 24 * MB}), "big.png",
     {"MAX_ENCODED_BYTES": 16 * MB}),
    ("zip-stored-padded-image", lambda d: _zip(d / "pad.zip", {"pad.png": _padded_png(24 * MB)},
                                                zipfile.ZIP_STORED), "pad.png",
     {"SMALL_MEMBER_BYTES": 4 * MB}),
    ("zip-non-image-named-png", lambda d: _zip(d / "txt.zip", {"text.png": b"x" * (24 * MB)},
                                                zipfile.ZIP_STORED), "text.png",
     {"SMALL_MEMBER_BYTES": 4 * MB}),
    ("zip-bzip2-member", lambda d: _zip(d / "bz.zip", {}, zipfile.ZIP_BZIP2), "img000.png", {}),
    ("targz-inflating-member", lambda d: _tar(d / "bomb.tar.gz", {"huge.png": 24 * MB}, "w:gz"),
     "huge.png", {"STREAM_FLOOR": 8 * MB}),
    ("tarbz2-inflating-member", lambda d: _tar(d / "bomb.tar.bz2", {"huge.png": 24 * MB}, "w:bz2"),
     "huge.png", {"STREAM_FLOOR": 8 * MB}),
    ("tar-declared-over-limit", lambda d: _tar(d / "big.tar", {"big.png": 24 * MB}, "w"), "big.png",
     {"MAX_ENCODED_BYTES": 16 * MB}),
    ("tar-padded-image", lambda d: _tar(d / "pad.tar", {"pad.png": _padded_png(24 * MB)}, "w"),
     "pad.png", {"SMALL_MEMBER_BYTES": 4 * MB}),
]


@pytest.mark.parametrize(("case", "build", "member", "limits"), BOMBS, ids=[b[0] for b in BOMBS])
def test_archive_bomb_member_is_refused_early(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, monkeypatch: pytest.MonkeyPatch,
    case: str, build: Callable[[Path], Path], member: str, limits: dict[str, int],
) -> None:
    """Before: the member was inflated whole (a 2 MB zip: 4.6 GB resident) and only then
    found not to be an image. Now: refused from its declared size, its ratio or its first
    bytes; memory stays far below the member's size."""
    source = build(sets.root)
    for name, value in limits.items():
        monkeypatch.setattr(archives, name, value)
    res, peak = _traced(lambda: cli(*sets.evaluate(gen=source)))
    expected = N_GOOD if case != "zip-bzip2-member" else 0
    if expected == 0:  # every member refused: the source has no usable image
        assert_user_error(res, source.name)
        return
    doc = assert_skipped(res, member, generated=expected)
    hit = [w for w in res.warnings if f"{source.name}!{member}" in w]
    assert len(hit) == 1, res.describe()
    assert [s for s in doc["skipped"] if s["path"].endswith(f"!{member}")]
    assert peak < 20 * MB, f"peak {peak / MB:.0f} MB of traced allocations"


def test_bomb_member_under_strict_is_one_error(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    source = _zip(sets.root / "bomb.zip", {"huge.png": 48 * MB})
    assert_user_error(cli(*sets.evaluate("--strict", gen=source)), "bomb.zip!huge.png")
    assert fake_backbone.calls == 0


# ----------------------------------------------------------------- ADM reference batches


def _adm_batch(path: Path, n: int, side: int) -> Path:
    """An ADM reference batch (np.savez layout: stored members) with ``n`` side×side images."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, arr in (("mu", np.zeros(2048)), ("sigma", np.eye(2048)),
                          ("mu_s", np.zeros(2023)), ("sigma_s", np.eye(2023))):
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr)
        with z.open("arr_0.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (n, side, side, 3)})
            for i in range(n):
                f.write(np.roll(base, i, axis=1).tobytes())
    return path


def test_adm_batch_images_stay_within_the_decode_budget(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """Before: every image of a chunk was held decoded (200 images of 3000×3000: 5.9 GB).
    10 images of 1700×1700 (8.7 MB each, 87 MB in all) must not all be in memory at once."""
    batch = _adm_batch(sets.root / "VIRTUAL_big.npz", 10, 1700)
    res, peak = _traced(lambda: cli("evaluate", sets.gen, "-r", batch, "-m", "precision,recall",
                                    "--protocol", "tf1", "-f", "json", "--workers", "1"))
    assert res.code == 0, res.describe()
    assert res.json()["counts"]["reference"] == 10
    assert peak < 48 * MB, f"peak {peak / MB:.0f} MB of traced allocations"


def test_adm_batch_declaring_oversized_images_is_one_error(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """arr_0 declaring 2 images of 10000×10000 (a few hundred bytes on disk)."""
    path = sets.root / "VIRTUAL_bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        for name, arr in (("mu", np.zeros(2048)), ("sigma", np.eye(2048)),
                          ("mu_s", np.zeros(2023)), ("sigma_s", np.eye(2023))):
            with z.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, arr)
        with z.open("arr_0.npy", "w") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (2, 10000, 10000, 3)})
    res = cli("evaluate", sets.gen, "-r", path, "-m", "precision", "--protocol", "tf1", "-f", "json")
    assert_user_error(res, "VIRTUAL_bomb.npz", "pixel limit")
    assert fake_backbone.calls == 0


# ----------------------------------------------------------------- non-finite float images


def _float_tiff(path: Path, value: float, where: tuple[int, int] = (3, 4)) -> Path:
    arr = np.full((24, 32), 90.0, np.float32)
    arr[where] = value
    Image.fromarray(arr, mode="F").save(path)
    return path


NONFINITE = {"nan": np.nan, "inf": np.inf, "minus-inf": -np.inf}


@pytest.mark.parametrize("case", list(NONFINITE), ids=list(NONFINITE))
def test_float_tiff_with_nonfinite_pixels_is_skipped_and_counted(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, case: str
) -> None:
    """Before: NaN became some grey level and the image was scored without a word."""
    _float_tiff(sets.gen / "float.tif", NONFINITE[case])
    doc = assert_skipped(cli(*sets.evaluate(gen=sets.gen)), "float.tif", generated=N_GOOD)
    assert "NaN or infinite" in [s for s in doc["skipped"] if "float.tif" in s["path"]][0]["reason"]


def test_float_tiff_with_nan_under_strict_is_one_error(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    _float_tiff(sets.gen / "float.tif", np.nan)
    assert_user_error(cli(*sets.evaluate("--strict", gen=sets.gen)), "float.tif", "NaN")


def test_float_tiff_nan_in_a_zip_and_as_reference(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    tif = _float_tiff(sets.root / "f.tif", np.nan, (0, 0))
    _float_tiff(sets.real / "ref-nan.tif", np.inf)
    source = _zip(sets.root / "floats.zip", {"float.tif": tif.read_bytes()})
    res = cli(*sets.evaluate(gen=source))
    doc = assert_skipped(res, "floats.zip!float.tif", generated=N_GOOD)
    assert doc["counts"]["reference_skipped"] == 1


def test_finite_float_tiff_is_still_read(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    _float_tiff(sets.gen / "float.tif", 300.0)  # out of range: clipped, as documented
    res = cli(*sets.evaluate(gen=sets.gen))
    assert res.code == 0 and res.json()["counts"]["generated"] == N_GOOD + 1, res.describe()
