"""Image sources: enumerate images as :class:`ImageItem` records with a stable id.

A source is a folder (recursive, sorted), a ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz`` archive
(read within the decode limits: :mod:`genmetrics.sources.archives`),
a text file listing image paths (one a line, relative to the list file), or in Python a sequence
of numpy arrays, torch tensors or PIL images. Ids are the relative path without the extension,
in POSIX form (``anime/00042``), so that sets of images can be matched by id.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.sources.records import (
    IMAGE_EXTENSIONS,
    UNSUPPORTED_EXTENSIONS,
    ImageItem,
    ItemList,
    is_image_name,
    printable,
    strip_ext,
    unique_ids,
    unsupported_reason,
)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
LIST_SUFFIXES = (".txt", ".lst", ".list")

__all__ = [
    "ARCHIVE_SUFFIXES",
    "IMAGE_EXTENSIONS",
    "LIST_SUFFIXES",
    "UNSUPPORTED_EXTENSIONS",
    "ImageItem",
    "ItemList",
    "array_items",
    "content_hash",
    "folder_items",
    "is_image_name",
    "items_from",
    "list_file_items",
    "printable",
    "read_file_bounded",
    "strip_ext",
    "unique_ids",
    "unsupported_reason",
]


def read_file_bounded(path: Path, limit: int | None = None) -> bytes:
    """The bytes of an image file, refused (:class:`OSError`) when it is larger than any
    encoded image within the decode policy's pixel limit, or is not a regular file."""
    from genmetrics.sources.decode import MAX_ENCODED_BYTES

    limit = MAX_ENCODED_BYTES if limit is None else limit
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise OSError(
                f"file is {size:,} bytes, more than any image within the decode limits needs "
                f"({limit:,}); not read"
            )
        data = f.read(size)  # as stat'ed: f.read(limit) would allocate the whole limit
        if len(data) == size and f.read(1):
            raise OSError(f"file {path} grew while being read; not read")
    return data


def _file_reader(path: str | Path) -> Callable[[], bytes]:
    return lambda: read_file_bounded(Path(path))


def _file_item(rel: str, path: str | Path) -> ImageItem:
    return ImageItem(printable(strip_ext(rel)), printable(str(path)), _file_reader(path), str(path))


def folder_items(folder: Path) -> ItemList:
    """Every image below ``folder``, sorted by relative path. Symbolic links to folders are
    followed once (a link loop is reported, not followed again); unreadable folders and
    unsupported formats are reported as problems. Paths are handled as strings (a listing
    of thousands of files is part of every warm run's start-up)."""
    problems: list[tuple[str, str]] = []
    found: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    top = os.fspath(folder)

    def on_error(exc: OSError) -> None:
        where = printable(str(exc.filename or folder))
        problems.append((where, f"folder cannot be read ({exc.strerror or exc}); its images are left out"))

    for root, dirs, files in os.walk(folder, onerror=on_error, followlinks=True):
        try:
            st = os.stat(root)
        except OSError as exc:
            on_error(exc)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            problems.append((printable(root), "folder reached again through a symbolic link loop; not read twice"))
            dirs[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs.sort()
        below = os.path.relpath(root, top)
        prefix = "" if below == "." else below.replace(os.sep, "/") + "/"
        for name in files:
            path = os.path.join(root, name)
            if is_image_name(name):
                if os.path.isfile(path):
                    found.append((prefix + name, path))
                elif not os.path.exists(path):
                    problems.append((printable(path), "broken symbolic link"))
                else:
                    problems.append((printable(path), "not a regular file"))
            elif (reason := unsupported_reason(name)) is not None:
                problems.append((printable(path), reason))
    found.sort(key=lambda pair: pair[0])
    items = [_file_item(rel, path) for rel, path in found]
    return ItemList(unique_ids(items, printable(str(folder))), problems)


def list_file_items(path: Path) -> ItemList:
    base = path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: a list of image paths must be UTF-8 text, one path a line") from None
    items = []
    problems = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        p = p if p.is_absolute() else base / p
        try:
            rel = p.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            rel = p.as_posix().lstrip("/")
        if not is_image_name(p.name):
            problems.append((str(p), unsupported_reason(p.name) or "not an image file name"))
            continue
        items.append(_file_item(rel, p))
    return ItemList(unique_ids(items, str(path)), problems)


def _to_uint8_rgb(obj: Any, where: str) -> np.ndarray:
    from genmetrics.sources.decode import check_dimensions, pil_to_rgb_array

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(obj, Image.Image):
        return pil_to_rgb_array(obj.copy(), where)  # the caller's image is left untouched
    if type(obj).__module__.startswith("torch"):
        obj = obj.detach().cpu()
        if obj.ndim == 3 and obj.shape[0] in (1, 3, 4) and obj.shape[-1] not in (1, 3, 4):
            obj = obj.permute(1, 2, 0)
        obj = obj.numpy()
    arr = np.asarray(obj)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise UserError(f"{where}: expected an HxWx3 (or 3xHxW tensor) image, got shape {arr.shape}")
    try:
        check_dimensions(arr.shape[1], arr.shape[0], where)
    except ImageDecodeError as exc:
        raise UserError(str(exc)) from None
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all():
                raise UserError(f"{where}: contains NaN or infinite pixel values; fix the image")
            if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
                raise UserError(f"{where}: float images must lie in [0, 1]; scale them first")
            arr = np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8)
        else:
            raise UserError(f"{where}: unsupported dtype {arr.dtype}; use uint8 or float in [0, 1]")
    arr = arr[..., :3]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr)


def array_items(images: Sequence[Any], prefix: str = "") -> list[ImageItem]:
    """In-memory images: uint8 HxWx3 arrays, float arrays/tensors in [0, 1], CxHxW tensors,
    or PIL images. A 4-D array or tensor is taken as a batch."""
    if hasattr(images, "ndim") and getattr(images, "ndim", 0) == 4:
        images = list(images)
    items = []
    width = max(5, len(str(len(images))))
    for i, obj in enumerate(images):
        where = f"{prefix}image[{i}]"
        arr = _to_uint8_rgb(obj, where)
        items.append(ImageItem(f"{prefix}{i:0{width}d}", where, (lambda a=arr: a)))
    return items


def items_from(source: Any) -> ItemList:
    """Resolve any supported source into a sorted list of image items (with the listing's
    ``problems``: files and folders that could not be used)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name.lower()
        if path.is_dir():
            items = folder_items(path)
        elif not path.exists():
            raise UserError(f"{path}: no such file or folder")
        elif name.endswith(".zip"):
            from genmetrics.sources.archives import zip_items

            items = zip_items(path)
        elif name.endswith(ARCHIVE_SUFFIXES[1:]) or tarfile.is_tarfile(path):
            from genmetrics.sources.archives import tar_items

            items = tar_items(path)
        elif name.endswith(LIST_SUFFIXES):
            items = list_file_items(path)
        elif is_image_name(name):
            items = ItemList([_file_item(path.name, path)])
        else:
            raise UserError(
                f"{path}: not a folder, archive (.zip/.tar/.tar.gz) or list of image paths (.txt)"
            )
        if not items:
            found = f"; found only {len(items.problems)} unusable file(s), first: {items.problems[0][0]}: {items.problems[0][1]}" if items.problems else ""
            raise UserError(
                f"{printable(str(path))}: contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))}){found}"
            )
        return items
    if isinstance(source, ItemList):
        return source
    if isinstance(source, (list, tuple)) and source and all(isinstance(x, ImageItem) for x in source):
        return ItemList(source)
    if isinstance(source, Sequence) or hasattr(source, "ndim") or hasattr(source, "__iter__"):
        items = array_items(list(source) if not hasattr(source, "ndim") else source)
        if not items:
            raise UserError("the image list is empty")
        return ItemList(items)
    raise UserError(f"unsupported image source of type {type(source).__name__}")


def content_hash(data: bytes | np.ndarray) -> str:
    """sha256 of the encoded file bytes, or of shape+bytes of an in-memory uint8 image."""
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        h.update(f"ndarray:{data.dtype}:{data.shape}:".encode())
        h.update(np.ascontiguousarray(data).tobytes())
    else:
        h.update(data)
    return h.hexdigest()
