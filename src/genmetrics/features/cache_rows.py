"""Checksums of the feature cache's rows: every column of a row goes into a keyed blake2b-128,
verified on every read (see :mod:`genmetrics.features.cache`)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np


def _text(h: hashlib.blake2b, *parts: object) -> None:
    """Each part as text, length-prefixed (no two different tuples hash alike)."""
    for part in parts:
        raw = str(part).encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)


def feature_checksum(
    backbone: str, content: str, output: str, dtype: str, dim: int, data: bytes
) -> bytes:
    """blake2b-128 of one feature row, every column included."""
    h = hashlib.blake2b(digest_size=16, person=b"gm-feature-v2")
    _text(h, backbone, content, output, dtype, dim)
    h.update(data)
    return h.digest()


def value_checksum(key: str, value: float) -> bytes:
    """blake2b-128 of one derived (key, value) row."""
    h = hashlib.blake2b(digest_size=16, person=b"gm-derived-v2")
    _text(h, key)
    h.update(struct.pack("<d", value))
    return h.digest()


def file_checksum(path: str, stat: Sequence[int], sha256: str) -> bytes:
    """blake2b-128 of one remembered file hash (path, size, mtime_ns, inode, ctime_ns, sha256)."""
    h = hashlib.blake2b(digest_size=16, person=b"gm-filehash-v2")
    _text(h, path, *stat, sha256)
    return h.digest()


def row_vector(backbone: str, content: str, row: tuple) -> np.ndarray | None:
    """The vector of a stored (output, dtype, dim, data, checksum) row, or None if damaged."""
    output, dtype, dim, data, checksum = row
    if not (isinstance(data, bytes) and isinstance(dim, int) and isinstance(dtype, str)):
        return None
    if checksum != feature_checksum(backbone, content, output, dtype, dim, data):
        return None
    try:
        kind = np.dtype(dtype)
    except TypeError:
        return None
    if kind.hasobject or dim < 0 or dim * kind.itemsize != len(data):
        return None
    return np.frombuffer(data, dtype=kind)


def value_ok(key: str, value: object, checksum: object) -> bool:
    return isinstance(value, (int, float)) and checksum == value_checksum(key, float(value))
