"""What every image source yields: :class:`ImageItem` records in an :class:`ItemList`, and the
naming rules they share (image file names, ids without the extension, unique ids)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from genmetrics.errors import UserError

__all__ = [
    "IMAGE_EXTENSIONS",
    "UNSUPPORTED_EXTENSIONS",
    "ImageItem",
    "ItemList",
    "is_image_name",
    "printable",
    "strip_ext",
    "unique_ids",
    "unsupported_reason",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
UNSUPPORTED_EXTENSIONS = frozenset(
    {".gif", ".apng", ".heic", ".heif", ".avif", ".jxl", ".svg", ".ico", ".jp2", ".psd", ".exr"}
)
"""Image formats that are not read (animated, palette-only, vector or HDR): listed files of
these kinds are counted and reported as skipped, never silently ignored."""


@dataclass(frozen=True)
class ImageItem:
    """One image of a source. ``read`` returns the encoded file bytes, or a decoded
    HxWx3 uint8 array for in-memory images."""

    id: str
    location: str
    read: Callable[[], bytes | np.ndarray]
    file: str | None = None
    """Path of a plain file on disk (lets the cache skip re-hashing unchanged files)."""
    prompt: str | None = None
    """The prompt that made the image, once prompts are attached (prompt-conditioned
    backbones such as ImageReward read it during the same pass)."""


class ItemList(list):
    """Items of a source, plus what its listing could not use: ``problems`` holds
    ``(location, reason)`` for unsupported formats and unreadable folders."""

    problems: list[tuple[str, str]]

    def __init__(self, items=(), problems=()) -> None:
        super().__init__(items)
        self.problems = list(problems)


def printable(text: str) -> str:
    """``text`` with bytes that are not UTF-8 (file names from ``os`` carry them as
    surrogates) written as ``\\xNN``: safe to print, store and write to JSON."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def unsupported_reason(name: str) -> str | None:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in UNSUPPORTED_EXTENSIONS:
        return f"{suffix} images are not read (convert them to PNG)"
    return None


def strip_ext(rel: str) -> str:
    p = PurePosixPath(rel)
    return str(p.with_suffix("")) if p.suffix else rel


def unique_ids(items: list[ImageItem], source: str) -> list[ImageItem]:
    seen: dict[str, str] = {}
    for item in items:
        if item.id in seen:
            raise UserError(
                f"{source}: '{seen[item.id]}' and '{item.location}' have the same id '{item.id}'; "
                "rename one of them (ids are paths without the extension)"
            )
        seen[item.id] = item.location
    return items
