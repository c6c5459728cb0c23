"""Image sources: enumerate images as :class:`ImageItem` records with a stable id.

A source is a folder (recursive, sorted), a ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz`` archive,
a text file listing image paths (one a line, relative to the list file), or in Python a sequence
of numpy arrays, torch tensors or PIL images. Ids are the relative path without the extension,
in POSIX form (``anime/00042``), so that sets of images can be matched by id.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from genmetrics.errors import UserError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class ImageItem:
    """One image of a source. ``read`` returns the encoded file bytes, or a decoded
    HxWx3 uint8 array for in-memory images."""

    id: str
    location: str
    read: Callable[[], bytes | np.ndarray]
    file: str | None = None
    """Path of a plain file on disk (lets the cache skip re-hashing unchanged files)."""


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def _strip_ext(rel: str) -> str:
    p = PurePosixPath(rel)
    return str(p.with_suffix("")) if p.suffix else rel


def _unique_ids(items: list[ImageItem], source: str) -> list[ImageItem]:
    seen: dict[str, str] = {}
    for item in items:
        if item.id in seen:
            raise UserError(
                f"{source}: '{seen[item.id]}' and '{item.location}' have the same id '{item.id}'; "
                "rename one of them (ids are paths without the extension)"
            )
        seen[item.id] = item.location
    return items


def _file_reader(path: Path) -> Callable[[], bytes]:
    return lambda: path.read_bytes()


def folder_items(folder: Path) -> list[ImageItem]:
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name)),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    items = [
        ImageItem(_strip_ext(p.relative_to(folder).as_posix()), str(p), _file_reader(p), str(p))
        for p in files
    ]
    return _unique_ids(items, str(folder))


def zip_items(path: Path) -> list[ImageItem]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if not n.endswith("/") and is_image_name(n))
    except zipfile.BadZipFile as exc:
        raise UserError(f"{path}: not a readable zip archive ({exc})") from None

    def reader(name: str) -> Callable[[], bytes]:
        def read() -> bytes:
            with zipfile.ZipFile(path) as zf:
                return zf.read(name)

        return read

    items = [ImageItem(_strip_ext(n), f"{path}!{n}", reader(n)) for n in names]
    return _unique_ids(items, str(path))


def tar_items(path: Path) -> list[ImageItem]:
    """Members are read eagerly into memory once (tar has no random access worth using)."""
    try:
        with tarfile.open(path) as tf:
            blobs: dict[str, bytes] = {}
            for member in tf.getmembers():
                if member.isfile() and is_image_name(member.name):
                    f = tf.extractfile(member)
                    if f is not None:
                        blobs[member.name] = f.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable tar archive ({exc})") from None
    items = [
        ImageItem(_strip_ext(n), f"{path}!{n}", (lambda b=blobs[n]: b)) for n in sorted(blobs)
    ]
    return _unique_ids(items, str(path))


def list_file_items(path: Path) -> list[ImageItem]:
    base = path.parent
    items = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line)
        p = p if p.is_absolute() else base / p
        try:
            rel = p.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            rel = p.as_posix().lstrip("/")
        items.append(ImageItem(_strip_ext(rel), str(p), _file_reader(p), str(p)))
    return _unique_ids(items, str(path))


def _to_uint8_rgb(obj: Any, where: str) -> np.ndarray:
    from genmetrics.sources.decode import pil_to_rgb_array

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None  # type: ignore[assignment]
    if Image is not None and isinstance(obj, Image.Image):
        return pil_to_rgb_array(obj, where)
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
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            if arr.size and (np.nanmin(arr) < -1e-6 or np.nanmax(arr) > 1 + 1e-6):
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


def items_from(source: Any) -> list[ImageItem]:
    """Resolve any supported source into a sorted list of image items."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name.lower()
        if path.is_dir():
            items = folder_items(path)
        elif not path.exists():
            raise UserError(f"{path}: no such file or folder")
        elif name.endswith(".zip"):
            items = zip_items(path)
        elif name.endswith(ARCHIVE_SUFFIXES[1:]) or tarfile.is_tarfile(path):
            items = tar_items(path)
        elif name.endswith(LIST_SUFFIXES):
            items = list_file_items(path)
        elif is_image_name(name):
            items = [ImageItem(_strip_ext(path.name), str(path), _file_reader(path), str(path))]
        else:
            raise UserError(
                f"{path}: not a folder, archive (.zip/.tar/.tar.gz) or list of image paths (.txt)"
            )
        if not items:
            raise UserError(f"{path}: contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        return items
    if isinstance(source, (list, tuple)) and source and all(isinstance(x, ImageItem) for x in source):
        return list(source)
    if isinstance(source, Sequence) or hasattr(source, "ndim") or hasattr(source, "__iter__"):
        items = array_items(list(source) if not hasattr(source, "ndim") else source)
        if not items:
            raise UserError("the image list is empty")
        return items
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
