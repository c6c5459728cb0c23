"""Thumbnails for HTML reports: small WebP (or JPEG) images embedded as ``data:`` URIs.

Images are decoded with the core decoder (:func:`genmetrics.sources.decode.decode_image`:
EXIF orientation, alpha dropped, decompression bombs refused), the longest side is brought
down to :data:`THUMB_SIZE` pixels (Pillow's Lanczos filter, never enlarged) and encoded
as WebP at quality :data:`QUALITY` (JPEG when this Pillow has no WebP). An image that cannot be
found or read gives ``None`` and a reason: the report shows a placeholder, never fails.
Each image is encoded once per report (cached by its location).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["THUMB_SIZE", "Thumbnailer", "path_reader"]

THUMB_SIZE = 256
QUALITY = 78

Reader = Callable[[], "bytes | np.ndarray"]


def _webp_ok() -> bool:
    from PIL import features

    try:
        return bool(features.check("webp"))
    except Exception:  # noqa: BLE001 - a broken plugin means: use JPEG
        return False


def path_reader(path: str, roots: list[Path]) -> tuple[Reader | None, str]:
    """A reader for ``path`` (as given, else relative to one of ``roots``) and the reason
    when no file is found (e.g. an image inside an archive, or moved since the run)."""
    candidates = [Path(path)]
    if not Path(path).is_absolute():
        candidates += [root / path for root in roots]
    for c in candidates:
        try:
            if c.is_file():
                return (lambda c=c: c.read_bytes()), ""
        except OSError:
            continue
    return None, "image file not found"


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

        from genmetrics.sources.decode import decode_image

        try:
            data = reader()
            arr = data if isinstance(data, np.ndarray) else decode_image(data, key)
            img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))
        except Exception as exc:  # noqa: BLE001 - any unreadable image becomes a placeholder
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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
