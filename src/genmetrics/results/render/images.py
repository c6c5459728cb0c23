"""Thumbnails for HTML reports: small WebP (or JPEG) images embedded as ``data:`` URIs.

Images are decoded with the core decoder (:mod:`genmetrics.sources.decode`: size checked from
the header before any pixel is decoded, files read lazily and never whole, EXIF orientation,
alpha dropped, decompression bombs refused), the longest side is brought down to
:data:`THUMB_SIZE` pixels (Pillow's Lanczos filter, never enlarged) and encoded as WebP at
quality :data:`QUALITY` (JPEG when this Pillow has no WebP). An image that cannot be found or
read gives ``None`` and a reason: the report shows a placeholder, never fails. Each image is
encoded once per report (cached by its location).

A saved result folder is untrusted input (it may come from anyone): :class:`ImageRoots`
reads an image only when its real path (symbolic links resolved) lies inside the result
folder or a folder the user named (``genmetrics report --image-root``); any other path, even
one that exists, becomes a placeholder saying so, so a shared report never carries a file of
the machine it was rendered on.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["OUTSIDE_REASON", "THUMB_SIZE", "ImageRoots", "Thumbnailer", "path_reader"]

THUMB_SIZE = 256
QUALITY = 78

Reader = Callable[[], "bytes | np.ndarray | BinaryIO"]
"""Gives encoded bytes, a decoded array, or an open binary file (decoded lazily, then closed)."""
OUTSIDE_REASON = (
    "image outside the result folder and the --image-root folders; not embedded "
    "(pass --image-root FOLDER to allow it)"
)


def _webp_ok() -> bool:
    from PIL import features

    try:
        return bool(features.check("webp"))
    except Exception:  # noqa: BLE001 - a broken plugin means: use JPEG
        return False


def path_reader(path: str, roots: list[Path]) -> tuple[Reader | None, str]:
    """A reader for ``path`` (as given, else relative to one of ``roots``) and the reason
    when no file is found (e.g. an image inside an archive, or moved since the run). For
    paths of the run itself (trusted); a saved folder's paths go through :class:`ImageRoots`."""
    candidates = [Path(path)]
    if not Path(path).is_absolute():
        candidates += [root / path for root in roots]
    for c in candidates:
        try:
            if c.is_file():
                return (lambda c=c: _open_regular(str(c))), ""
        except OSError:
            continue
    return None, "image file not found"


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _open_regular(real: str, roots: Sequence[str] = ()) -> BinaryIO:
    """Open a regular file without blocking on a FIFO or following a last-moment symbolic
    link; with ``roots``, check again (Linux) that the file opened lies inside one of them."""
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{real} is not a regular file")
        opened = f"/proc/self/fd/{fd}"
        if roots and os.path.islink(opened):
            target = os.path.realpath(opened)
            if not any(_inside(target, r) for r in roots):
                raise OSError("the file moved outside the allowed folders while being opened")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class ImageRoots:
    """Where a report of a saved result folder may read images (see the module docstring).

    ``allowed``: the folders images may lie in (the result folder, ``--image-root``);
    ``bases``: folders a relative path is tried against (the allowed ones, then e.g. the
    run's working folder recorded in the untrusted manifest — safe, since only the real path
    found decides). Absolute paths, ``..`` and symbolic links leading out are refused.
    """

    def __init__(self, allowed: Sequence[str | os.PathLike], bases: Sequence[str | os.PathLike] = ()) -> None:
        self.allowed = [os.path.realpath(a) for a in allowed]
        self.bases = [Path(b) for b in dict.fromkeys([*map(str, allowed), *map(str, bases)])]
        self.refused = 0
        """Images not read for lying outside the allowed folders or not being found inside
        them (for one summary warning)."""

    def locate(self, path: str, folder: bool = False) -> tuple[str | None, bool]:
        """(the real path of an existing regular file — or ``folder`` — inside an allowed
        folder, or None; whether every candidate lay outside the allowed folders)."""
        if not path or "\0" in path:
            return None, False
        p = Path(path)
        candidates = [p] if p.is_absolute() else [base / p for base in self.bases]
        outside = 0
        for c in candidates:
            real = os.path.realpath(c)
            if not any(_inside(real, r) for r in self.allowed):
                outside += 1
                continue
            try:
                if os.path.isdir(real) if folder else os.path.isfile(real):
                    return real, False
            except OSError:
                continue
        return None, outside == len(candidates)

    def reader(self, path: str) -> tuple[Reader | None, str]:
        if not path or "\0" in path:
            return None, "no image path in the per-image table"
        real, outside = self.locate(path)
        if real is not None:
            return (lambda real=real: _open_regular(real, self.allowed)), ""
        self.refused += 1
        if outside:
            return None, OUTSIDE_REASON
        return None, (
            "image file not found inside the result folder or the --image-root folders "
            "(pass --image-root FOLDER for the folder of the images)"
        )


class Thumbnailer:
    """Encodes images once each; ``uri(key, reader)`` → (``data:`` URI or None, reason)."""

    def __init__(self, size: int = THUMB_SIZE, quality: int = QUALITY) -> None:
        self.size = int(size)
        self.quality = int(quality)
        self.webp = _webp_ok()
        self._cache: dict[str, tuple[str | None, str]] = {}
        self.bytes_embedded = 0

    def uri(self, key: str, reader: Reader | None) -> tuple[str | None, str]:
        if key in self._cache:
            return self._cache[key]
        out = self._make(key, reader)
        self._cache[key] = out
        return out

    def _make(self, key: str, reader: Reader | None) -> tuple[str | None, str]:
        if reader is None:
            return None, "image file not found"
        from PIL import Image

        from genmetrics.sources.decode import decode_image, load_rgb, open_image

        try:
            data = reader()
            if isinstance(data, np.ndarray):
                arr = data
            elif isinstance(data, bytes):
                arr = decode_image(data, key)
            else:  # an open file: the header is checked before any pixel is read
                with data:
                    arr = load_rgb(open_image(data, key), key)
            img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
        except Exception as exc:  # noqa: BLE001 - any unreadable image becomes a placeholder
            text = str(getattr(exc, "reason", None) or exc)
            reason = text.splitlines()[0] if text else type(exc).__name__
            return None, f"image could not be read ({reason[:120]})"
        img.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        if self.webp:
            img.save(buf, format="WEBP", quality=self.quality, method=4)
            mime = "image/webp"
        else:
            img.save(buf, format="JPEG", quality=self.quality, optimize=True)
            mime = "image/jpeg"
        raw = buf.getvalue()
        self.bytes_embedded += len(raw)
        return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}", ""


def describe_path(path: str) -> str:
    """The last two parts of a path, for captions."""
    parts = Path(path).parts
    return os.sep.join(parts[-2:]) if parts else path
