"""Bounded reading of ``.npz`` archives: the declared shape and dtype of every array first,
then only the arrays asked for, each within its declared size.

``np.load`` inflates a member before anyone can look at its shape: a 3 MB deflate bomb
declaring a 20000 x 20000 float64 ``sigma`` costs 3.2 GB of memory before a shape check can
refuse it. Here :func:`read_headers` parses each member's ``.npy`` header from the first bytes
of its stream (numpy's ``read_magic`` / ``read_array_header_*``, which never evaluate code),
so a caller refuses out-of-bound shapes and dtypes from the headers alone, and
:func:`read_member` then reads one array with ``allow_pickle=False`` into a buffer of exactly
its declared size (a member whose stream holds less is refused as truncated).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = ["ArrayHeader", "NpzArchive", "open_npz"]


@dataclass(frozen=True)
class ArrayHeader:
    """What one ``.npy`` member declares, and what the zip directory says of it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    stored_size: int
    """Uncompressed member size recorded in the zip directory (bytes)."""

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * int(self.dtype.itemsize)

    def describe(self) -> str:
        return f"{self.dtype.str} {self.shape}"


class NpzArchive:
    """An open ``.npz`` (a zip of ``NAME.npy`` members) whose headers have been read."""

    def __init__(self, path: str | os.PathLike, zf: zipfile.ZipFile,
                 headers: dict[str, ArrayHeader]) -> None:
        self.path, self._zf, self.headers = path, zf, headers

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zf.close()

    @property
    def names(self) -> list[str]:
        return list(self.headers)

    def read(self, name: str) -> np.ndarray:
        """Array ``name``, read into a buffer of its declared size (no pickles)."""
        header = self.headers[name]
        try:
            with self._zf.open(header.name + ".npy") as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncated, bad CRC, bad deflate stream...
            raise UserError(
                f"{self.path}: its array '{name}' cannot be read ({type(exc).__name__}: {exc})"
            ) from None
        return array


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> ArrayHeader:
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return ArrayHeader(info.filename[: -len(".npy")], tuple(int(s) for s in shape),
                       np.dtype(dtype), bool(fortran), int(info.file_size))


def open_npz(path: str | os.PathLike) -> NpzArchive:
    """Open ``path`` and read the header of every ``.npy`` member (a few hundred bytes each,
    whatever the members declare); a UserError naming the file when it is not such an
    archive or a header is malformed."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    try:
        headers: dict[str, ArrayHeader] = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                continue
            h = _header(zf, info)
            headers[h.name] = h
    except Exception as exc:  # noqa: BLE001 - malformed header, bad magic, encrypted member...
        zf.close()
        raise UserError(
            f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})"
        ) from None
    return NpzArchive(path, zf, headers)


def check_declared(archive: NpzArchive, name: str, *, kinds: str, ndim: tuple[int, ...],
                   max_items: int, what: str) -> ArrayHeader:
    """The header of ``name``, refused (UserError naming the file) unless its dtype kind is
    one of ``kinds`` (no object or structured dtypes), its number of dims one of ``ndim``, it
    holds at most ``max_items`` elements, and the zip directory records at least its
    declared bytes."""
    h = archive.headers[name]
    dt: Any = h.dtype
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None or dt.kind not in kinds:
        raise UserError(
            f"{archive.path}: '{name}' must be {what}, but its header declares {h.describe()}; "
            "recompute the file with genmetrics stats"
        )
    items = int(np.prod(h.shape, dtype=np.int64))
    if len(h.shape) not in ndim or items > max_items:
        raise UserError(
            f"{archive.path}: '{name}' must be {what}, but its header declares shape "
            f"{h.shape}; recompute the file with genmetrics stats"
        )
    if h.stored_size < h.nbytes:
        raise UserError(
            f"{archive.path}: '{name}' declares {h.nbytes} bytes but its member holds "
            f"{h.stored_size}: the file is truncated or forged"
        )
    return h
