"""Archives within the decode policy's limits: declared sizes, compression ratios, bounded
reads (sources/archives.py)."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmetrics.sources import archives
from genmetrics.sources.decode import MAX_ENCODED_BYTES
from genmetrics.sources.items import items_from, read_file_bounded


def _png(seed: int = 0, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zeros_zip(path: Path, name: str, size: int, good: int = 2) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(good):
            zf.writestr(f"ok{i}.png", _png(i))
        with zf.open(name, "w", force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return path


def test_declared_limits():
    assert archives.declared_problem(100, 100) is None
    assert "more than any image" in archives.declared_problem(MAX_ENCODED_BYTES + 1)
    assert archives.declared_problem(archives.RATIO_FLOOR, 1) is None  # small: only the size counts
    assert "inflates" in archives.declared_problem(archives.RATIO_FLOOR + 1, 1000)
    assert archives.declared_problem(archives.RATIO_FLOOR + 1, archives.RATIO_FLOOR // 10) is None


def test_zip_member_inflating_past_the_ratio_is_listed_as_a_problem_not_read(tmp_path):
    """A 48 MB member of zeros (about 50 kB deflated, ~1000:1) is refused from the directory."""
    path = _zeros_zip(tmp_path / "bomb.zip", "huge.png", 48 << 20)
    tracemalloc.start()
    try:
        items = items_from(path)
        data = [item.read() for item in items]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [i.id for i in items] == ["ok0", "ok1"] and all(d[:4] == b"\x89PNG" for d in data)
    [(where, reason)] = items.problems
    assert where == f"{path}!huge.png" and "inflates" in reason and "archive bomb" in reason
    assert peak < 8 << 20, peak


def test_zip_member_with_other_compression_is_refused(tmp_path):
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("a.png", _png())
    items = archives.zip_items(path)
    assert not items and "compression method 12" in items.problems[0][1]


def test_large_member_needs_an_image_header_that_justifies_its_size(tmp_path, monkeypatch):
    """Over SMALL_MEMBER_BYTES a member is sniffed first: a non-image, or a small image padded
    to a large member, is refused after SNIFF_BYTES, not read whole."""
    monkeypatch.setattr(archives, "SMALL_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(archives, "SNIFF_BYTES", 64 << 10)
    monkeypatch.setattr(archives, "RATIO_FLOOR", 1 << 40)  # the ratio alone would refuse zeros
    png = _png(3, size=64)
    padded = png + bytes((24 << 20) - len(png))  # a 64x64 PNG "needing" 24 MB
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("padded.png", padded)
        zf.writestr("zeros.png", bytes(24 << 20))
        zf.writestr("fine.png", png)
    items = {i.id: i for i in items_from(tmp_path / "a.zip")}
    assert items["fine"].read() == png
    tracemalloc.start()
    try:
        with pytest.raises(OSError, match=r"64x64 image.*archive bomb"):
            items["padded"].read()
        with pytest.raises(OSError, match="not an image"):
            items["zeros"].read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def _targz(path: Path, members: list[tuple[str, int | bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
            else:
                info.size = content
                tf.addfile(info, _Zeros(content))
    return path


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


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_compressed_tar_keeps_only_members_that_pass(tmp_path, mode, monkeypatch):
    monkeypatch.setattr(archives, "STREAM_FLOOR", 8 << 20)
    path = _targz(tmp_path / "t.tar", [("a.png", _png(1)), ("notes.gif", b"GIF89a"),
                                        ("big.png", 64 << 20), ("z.png", _png(2))], mode)
    tracemalloc.start()
    try:
        items = items_from(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # big.png would inflate past the bound: named, and the rest of the archive is not read
    assert [i.id for i in items] == ["a"] and items[0].read() == _png(1)
    reasons = dict(items.problems)
    assert ".gif images are not read" in reasons[f"{path}!notes.gif"]
    assert "inflate past" in reasons[f"{path}!big.png"] and "read no further" in reasons[f"{path}!big.png"]
    assert peak < 16 << 20, peak  # xz's own 8 MB dictionary included


def test_plain_tar_refuses_an_oversized_member_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_ENCODED_BYTES", 1 << 20)
    path = _targz(tmp_path / "t.tar", [("a.png", _png(1)), ("big.png", 2 << 20)], "w")
    items = items_from(path)
    assert [i.id for i in items] == ["a"] and items[0].read() == _png(1)
    assert "declares 2,097,152 bytes" in dict(items.problems)[f"{path}!big.png"]


def test_folder_files_are_read_within_the_encoded_limit(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.truncate(3 << 20)
    with pytest.raises(OSError, match="more than any image"):
        read_file_bounded(path, limit=1 << 20)
    assert len(read_file_bounded(path, limit=4 << 20)) == 3 << 20


def test_encrypted_zip_member_is_listed_as_a_problem(tmp_path):
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.png", _png())
        zf.writestr("b.png", _png(1))
    data = bytearray(path.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encrypted flag of b.png's headers
        at = data.rfind(sig)
        flags = at + (6 if sig == b"PK\x03\x04" else 8)
        data[flags] |= 1
    path.write_bytes(bytes(data))
    items = archives.zip_items(path)
    assert [i.id for i in items] == ["a"] and "encrypted" in items.problems[0][1]
