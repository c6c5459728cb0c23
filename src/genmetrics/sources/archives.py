"""Archive sources — ``.zip``, ``.tar``, ``.tar.gz`` / ``.tgz`` (and bzip2/xz tars) — read
within the decode policy's limits, so that a small archive cannot inflate into gigabytes.

Every member is checked before its bytes are held:

- at listing, from the sizes the archive declares: a member larger than
  :data:`~genmetrics.sources.decode.MAX_ENCODED_BYTES` (no image within the pixel limit needs
  more), or one over :data:`RATIO_FLOOR` bytes that inflates more than :data:`MAX_RATIO`:1, is
  skipped with one warning naming ``archive!member``; zip members must be stored or deflated
  (the methods whose output :mod:`zipfile` bounds);
- when read, never past the declared size, and a member over :data:`SMALL_MEMBER_BYTES` must
  show an image header in its first :data:`SNIFF_BYTES` whose size is within the pixel limit
  and justifies the member's size (:func:`~genmetrics.sources.decode.max_encoded_bytes`);
- a compressed tar is decompressed once, as a stream: only the image members that pass are
  kept (in an anonymous temporary file, read back by offset), and decompression stops once the
  archive has inflated more than :data:`MAX_RATIO`:1 past :data:`STREAM_FLOOR` bytes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.sources.decode import (
    MAX_ENCODED_BYTES,
    MAX_PIXELS,
    max_encoded_bytes,
    open_image,
)
from genmetrics.sources.records import (
    ImageItem,
    ItemList,
    is_image_name,
    strip_ext,
    unique_ids,
    unsupported_reason,
)

__all__ = [
    "MAX_RATIO",
    "RATIO_FLOOR",
    "SMALL_MEMBER_BYTES",
    "SNIFF_BYTES",
    "STREAM_FLOOR",
    "declared_problem",
    "read_member",
    "tar_items",
    "zip_items",
]

MAX_RATIO = 200
"""Images barely compress (PNG, JPEG, WebP ≈ 1:1; a flat BMP a few dozen to one): a member
inflating more than this, once over :data:`RATIO_FLOOR`, is taken for a bomb."""
RATIO_FLOOR = 16 << 20
SMALL_MEMBER_BYTES = 64 << 20
"""Members up to this size are read whole (the decoder then checks them)."""
SNIFF_BYTES = 1 << 20
"""A larger member must show its image header within this many first bytes."""
STREAM_FLOOR = 1 << 30
"""A compressed tar may always inflate to this many bytes before the ratio applies."""
_BLOCK = 1 << 20


def declared_problem(declared: int, compressed: int | None = None) -> str | None:
    """Why a member of ``declared`` bytes (``compressed`` in the archive) is not read."""
    if declared > MAX_ENCODED_BYTES:
        return (
            f"declares {declared:,} bytes, more than any image within the {MAX_PIXELS:,}-pixel "
            "limit needs; not read (an archive bomb?)"
        )
    if compressed is not None and declared > RATIO_FLOOR and declared > MAX_RATIO * max(compressed, 1):
        return (
            f"inflates {declared // max(compressed, 1):,}:1 ({compressed:,} to {declared:,} bytes), "
            f"more than the {MAX_RATIO}:1 of any image; not read (an archive bomb?)"
        )
    return None


def _exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise OSError(f"member is truncated ({len(data):,} of {size:,} bytes)")
    return data


def read_member(stream: BinaryIO, declared: int, where: str) -> bytes:
    """The ``declared`` bytes of one member from ``stream`` (at the member's start), read
    within the limits of the module docstring; a refusal is an :class:`OSError` (the image is
    then skipped and counted like any unreadable file)."""
    if declared <= SMALL_MEMBER_BYTES:
        return _exact(stream, declared)
    head = _exact(stream, SNIFF_BYTES)
    try:
        img = open_image(head, where)  # the header alone: size checked, no pixel decoded
    except ImageDecodeError as exc:
        raise OSError(
            f"{exc.reason}, in the first {SNIFF_BYTES >> 20} MB of a {declared:,}-byte member; "
            "not read"
        ) from None
    width, height = img.size
    img.close()
    need = max_encoded_bytes(width, height)
    if declared > need:
        raise OSError(
            f"{declared:,} bytes for a {width}x{height} image, which needs at most {need:,}; "
            "not read (an archive bomb?)"
        )
    return head + _exact(stream, declared - len(head))


# ------------------------------------------------------------------------------------ zip


class _ZipReader:
    """One open archive shared by every item (opening it per member made reading O(N²))."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def read(self, info: zipfile.ZipInfo) -> bytes:
        with self._lock:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            try:
                with self._zip.open(info) as f:
                    return read_member(f, info.file_size, f"{self.path}!{info.filename}")
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                raise OSError(f"corrupt zip member ({exc})") from None


_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def _zip_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted zip member; not read (genmetrics reads no passwords)"
    if info.compress_type not in _ZIP_METHODS:
        return (
            f"zip compression method {info.compress_type} is not read (only stored or deflated "
            "members); re-create the archive with the default compression"
        )
    return declared_problem(info.file_size, info.compress_size)


def zip_items(path: Path) -> ItemList:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UserError(f"{path}: not a readable zip archive ({exc})") from None
    reader = _ZipReader(path)
    problems = [(f"{path}!{i.filename}", r) for i in infos if (r := unsupported_reason(i.filename))]
    items = []
    for i in sorted((i for i in infos if is_image_name(i.filename)), key=lambda i: i.filename):
        if (reason := _zip_problem(i)) is not None:
            problems.append((f"{path}!{i.filename}", reason))
            continue
        items.append(
            ImageItem(strip_ext(i.filename), f"{path}!{i.filename}", (lambda i=i: reader.read(i)))
        )
    return ItemList(unique_ids(items, str(path)), problems)


# ------------------------------------------------------------------------------------ tar


class _TarReader:
    """Members read by offset from an uncompressed file: memory stays bounded by one image."""

    def __init__(self, fileobj: BinaryIO, path: Path) -> None:
        self._file = fileobj
        self.path = path
        self._lock = threading.Lock()

    def read(self, name: str, offset: int, size: int) -> bytes:
        with self._lock:
            self._file.seek(offset)
            return read_member(self._file, size, f"{self.path}!{name}")


class _Inflated(Exception):
    """A compressed tar passed its decompression bound."""


class _Bounded(io.RawIOBase):
    """A decompressed stream that raises :class:`_Inflated` past ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit, self.count = stream, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else _BLOCK)
        self.count += len(data)
        if self.count > self.limit:
            raise _Inflated
        return data

    def readinto(self, buffer) -> int:  # pragma: no cover - tarfile calls read()
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressor(path: Path) -> BinaryIO | None:
    """A decompressing reader when ``path`` is gzip, bzip2 or xz by its magic bytes."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    return None


def _no_further(path: Path, limit: int) -> str:
    return (
        f"the archive would inflate past {limit:,} bytes (more than {MAX_RATIO}:1 of its "
        f"{path.stat().st_size:,}); it is read no further (an archive bomb?)"
    )


def _spool_compressed(path: Path, stream: BinaryIO) -> tuple[BinaryIO, list, list]:
    """Decompress a tar once, keeping only the image members that pass the declared-size
    checks; returns (spool, [(name, offset, size)], problems)."""
    limit = max(STREAM_FLOOR, MAX_RATIO * path.stat().st_size)
    bounded = _Bounded(stream, limit)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the items' lifetime
    kept: list[tuple[str, int, int]] = []
    problems: list[tuple[str, str]] = []
    current = ""
    try:
        with tarfile.open(fileobj=bounded, mode="r|") as tf:  # type: ignore[call-overload]
            for m in tf:
                current = m.name
                where = f"{path}!{m.name}"
                if m.isfile() and m.offset_data + m.size > limit:  # skipping it would pass the bound
                    reason = declared_problem(m.size)
                    tail = "the rest of the archive is not read"
                    problems.append((where, f"{reason}; {tail}" if reason else _no_further(path, limit)))
                    break
                if not m.isfile():
                    continue
                if not is_image_name(m.name):
                    if (reason := unsupported_reason(m.name)) is not None:
                        problems.append((where, reason))
                    continue
                if (reason := declared_problem(m.size)) is not None:
                    problems.append((where, reason))
                    continue
                src = tf.extractfile(m)
                assert src is not None
                offset = spool.tell()
                while block := src.read(_BLOCK):
                    spool.write(block)
                kept.append((m.name, offset, m.size))
    except _Inflated:
        problems.append((f"{path}!{current}", _no_further(path, limit)))
    except BaseException:
        spool.close()
        raise
    return spool, kept, problems


def tar_items(path: Path) -> ItemList:
    try:
        stream = _decompressor(path)
        if stream is not None:
            with stream:
                spool, members, problems = _spool_compressed(path, stream)
        else:
            spool = open(path, "rb")  # noqa: SIM115 - kept open for the items' lifetime
            with tarfile.open(fileobj=spool, mode="r:") as tf:
                found = [m for m in tf.getmembers() if m.isfile()]
            problems = [(f"{path}!{m.name}", r) for m in found if (r := unsupported_reason(m.name))]
            members = []
            for m in (m for m in found if is_image_name(m.name)):
                if (reason := declared_problem(m.size)) is not None:
                    problems.append((f"{path}!{m.name}", reason))
                else:
                    members.append((m.name, m.offset_data, m.size))
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise UserError(f"{path}: not a readable tar archive ({exc})") from None
    reader = _TarReader(spool, path)
    items = [
        ImageItem(
            strip_ext(name), f"{path}!{name}",
            (lambda name=name, offset=offset, size=size: reader.read(name, offset, size)),
        )
        for name, offset, size in sorted(members)
    ]
    return ItemList(unique_ids(items, str(path)), problems)
