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


def _suffix(name: str) -> str:
    """The extension of a file name as :attr:`pathlib.PurePath.suffix` gives it (``""`` for
    ``.png`` or ``a.``), without building a path object (listings call this per file)."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _last_part(path: str) -> str:
    """The last part of a POSIX path, as :attr:`pathlib.PurePath.name` gives it."""
    if path.endswith(("/", "/.")) or path == ".":
        return PurePosixPath(path).name
    return path.rpartition("/")[2]


def is_image_name(name: str) -> bool:
    return _suffix(_last_part(name)).lower() in IMAGE_EXTENSIONS


def unsupported_reason(name: str) -> str | None:
    suffix = _suffix(_last_part(name)).lower()
    if suffix in UNSUPPORTED_EXTENSIONS:
        return f"{suffix} images are not read (convert them to PNG)"
    return None


def strip_ext(rel: str) -> str:
    """A POSIX relative path without the extension of its last part (``a/b.png`` → ``a/b``),
    normalised as :class:`pathlib.PurePosixPath` does (``./a//b.png`` → ``a/b``)."""
    if rel.startswith("./") or "//" in rel or "/./" in rel or rel.endswith(("/", "/.")):
        path = PurePosixPath(rel)
        return str(path.with_suffix("")) if path.suffix else rel
    head, sep, name = rel.rpartition("/")
    suffix = _suffix(name)
    return f"{head}{sep}{name[: -len(suffix)]}" if suffix else rel


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
