"""Loading a diffusers pipeline for generation, with its provenance and a fingerprint.

The fingerprint pins the weights that make the images, so that a resumed run cannot mix
models:

* a local pipeline folder: ``files-sha256:<hex>``, the sha256 over ``relative path, size,
  sha256 of content`` of every file in it (weights included; names starting with ``.`` such as
  ``.git`` or ``.cache`` are left out). Every byte is read once per process (per-file hashes are
  cached in memory by path, size, mtime and inode): a few seconds per GB;
* a Hugging Face model id: ``hub:<id>@<commit>``, the commit the revision resolved to (the
  snapshot folder, resolved online by the Hub or offline from the local cache's refs);
* a pipeline object given in Python: ``memory-sha256:<hex>`` over the weights of its torch
  modules, the configs of its other components and their vocabularies (a copy to the CPU and
  a hash of every weight, once per run);
* anything else: ``unpinned:<name>``, and ``pinned`` is false in the run settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from genmetrics.devices import resolve_device as _resolve_device_name
from genmetrics.errors import UserError
from genmetrics.optional import require
from genmetrics.weights.store import offline_mode

DTYPES: dict[str, torch.dtype] = {
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp32": torch.float32,
    "float32": torch.float32,
    "float": torch.float32,
}
DTYPE_NAMES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
SOURCE_ATTR = "_genmetrics_source"
_FILE_HASHES: dict[tuple[str, int, int, int], str] = {}


@dataclass(frozen=True)
class PipelineSource:
    """Where a pipeline came from: the name given, the folder read, the Hub commit if any."""

    name: str
    path: str | None = None
    revision: str | None = None
    commit_hash: str | None = None
    model_index_sha256: str | None = None
    variant: str | None = None
    fingerprint: str | None = None
    files: int | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file_sha256(path: Path) -> str:
    """sha256 of a file's content, cached by (path, size, mtime_ns, inode)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _FILE_HASHES.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        digest = _FILE_HASHES[key] = h.hexdigest()
    return digest


def folder_fingerprint(folder: str | os.PathLike) -> tuple[str, int, int]:
    """``(files-sha256:<hex>, number of files, bytes)`` of every file under ``folder``.

    The digest covers ``relative path, size, content sha256`` per file, in path order;
    symbolic links are followed and names starting with ``.`` are skipped.
    """
    root = Path(folder)
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                path = Path(dirpath, name)
                entries.append((path.relative_to(root).as_posix(), path))
    h = hashlib.sha256()
    total = 0
    for rel, path in sorted(entries):
        size = path.stat().st_size
        total += size
        h.update(f"{rel}\t{size}\t{_file_sha256(path)}\n".encode())
    return f"files-sha256:{h.hexdigest()}", len(entries), total


def memory_fingerprint(pipe: Any) -> str | None:
    """``memory-sha256:<hex>`` of a pipeline object's components, None without components.

    Torch modules contribute every state-dict tensor (name, dtype, shape, bytes), other
    components their class, config and vocabulary.
    """
    components = getattr(pipe, "components", None)
    if not isinstance(components, dict) or not components:
        return None
    h = hashlib.sha256()
    for name in sorted(components):
        comp = components[name]
        h.update(f"component {name} {type(comp).__module__}.{type(comp).__qualname__}\n".encode())
        if isinstance(comp, torch.nn.Module):
            for key, tensor in comp.state_dict().items():
                t = tensor.detach().to("cpu").contiguous().reshape(-1)
                h.update(f"{key} {t.dtype} {tuple(tensor.shape)}\n".encode())
                h.update(memoryview(t.view(torch.uint8).numpy()))
            continue
        config = getattr(comp, "config", None)
        if isinstance(config, dict):
            h.update(json.dumps(dict(config), sort_keys=True, default=str).encode())
        get_vocab = getattr(comp, "get_vocab", None)
        if callable(get_vocab):
            h.update(json.dumps(get_vocab(), sort_keys=True, default=str).encode())
    return f"memory-sha256:{h.hexdigest()}"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The checked torch device (see :func:`genmetrics.devices.resolve_device`)."""
    return torch.device(_resolve_device_name(device))


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``"auto"``/None -> fp16 on cuda, fp32 elsewhere; names fp16, bf16, fp32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return DTYPES[dtype.lower()]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r}; use fp16, bf16 or fp32") from None


def dtype_name(dtype: torch.dtype | None) -> str | None:
    return None if dtype is None else DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def _sha256_or_none(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or name.count("/") > 1
        or "\\" in name
        or (len(name) > 1 and name[1] == ":")
    )


def _missing_model(name: str, offline: bool, reason: str) -> UserError:
    if offline:
        return UserError(
            f"pipeline {name!r} is not in the local Hugging Face cache and offline mode is on; "
            f"download it once with `hf download {name}` where there is network (or run without "
            "--offline), or pass the path of a folder written by pipe.save_pretrained()"
        )
    first = reason.split(". ")[0][:160]
    return UserError(
        f"pipeline {name!r} could not be found or downloaded ({first}); check the model id, the "
        "network and your token (`hf auth login`), or pass a folder written by "
        "pipe.save_pretrained()"
    )


def _locate(
    name: str, offline: bool, revision: str | None, variant: str | None
) -> tuple[Path, PipelineSource]:
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise UserError(
                f"pipeline folder {path} has no model_index.json; give a diffusers pipeline "
                "folder (written by pipe.save_pretrained()) or a Hugging Face model id"
            )
        fingerprint, files, size = folder_fingerprint(path)
        return path, PipelineSource(
            name=name,
            path=str(path.resolve()),
            model_index_sha256=_sha256_or_none(path / "model_index.json"),
            variant=variant,
            fingerprint=fingerprint,
            files=files,
            bytes=size,
        )
    if _looks_like_path(name):
        raise UserError(f"pipeline folder {name} does not exist; check the path")
    DiffusionPipeline = require("diffusers", "generate").DiffusionPipeline

    try:
        folder = Path(
            DiffusionPipeline.download(
                name, revision=revision, variant=variant, local_files_only=offline
            )
        )
    except (OSError, ValueError) as exc:  # Hub errors subclass OSError or ValueError
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _missing_model(name, offline, first_line) from None
    commit = folder.name if folder.parent.name == "snapshots" else None
    if commit is not None:  # files of a commit never change: the commit pins them
        fingerprint, files, size = f"hub:{name}@{commit}", None, None
    else:
        fingerprint, files, size = folder_fingerprint(folder)
    return folder, PipelineSource(
        name=name,
        path=str(folder),
        revision=revision,
        commit_hash=commit,
        model_index_sha256=_sha256_or_none(folder / "model_index.json"),
        variant=variant,
        fingerprint=fingerprint,
        files=files,
        bytes=size,
    )


def _dtype_keyword() -> str:
    """``dtype`` on diffusers versions that renamed it, ``torch_dtype`` before."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def load_pipeline(
    model_id_or_path: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = "cpu",
    offline: bool | None = None,
    *,
    revision: str | None = None,
    variant: str | None = None,
) -> Any:
    """Load a diffusers pipeline from a local folder or a Hugging Face model id.

    Offline (``offline=True``, ``GENMETRICS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) only the local
    Hugging Face cache is used; a model that is not there raises a :class:`UserError` that
    names it and says how to fetch it. The pipeline's provenance is kept as a
    :class:`PipelineSource` (see :func:`pipeline_source`).
    """
    DiffusionPipeline = require("diffusers", "generate").DiffusionPipeline

    name = os.fspath(model_id_or_path)
    offline = offline_mode(offline)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    folder, source = _locate(name, offline, revision, variant)
    kwargs: dict[str, Any] = {_dtype_keyword(): torch_dtype, "local_files_only": True}
    if variant is not None:
        kwargs["variant"] = variant
    try:
        pipe = DiffusionPipeline.from_pretrained(folder, **kwargs)
    except OSError as exc:
        raise _missing_model(
            name, offline, (str(exc).strip() or type(exc).__name__).splitlines()[0]
        ) from None
    pipe = pipe.to(dev)
    setattr(pipe, SOURCE_ATTR, source)
    return pipe


def pipeline_source(pipe: Any) -> PipelineSource:
    """Provenance of ``pipe``: as recorded by :func:`load_pipeline`, else from its config."""
    source = getattr(pipe, SOURCE_ATTR, None)
    if isinstance(source, PipelineSource):
        return source
    config = getattr(pipe, "config", None)
    name = getattr(config, "_name_or_path", None) if config is not None else None
    return PipelineSource(name=str(name) if name else type(pipe).__name__)


def pipeline_dtype(pipe: Any) -> torch.dtype | None:
    dtype = getattr(pipe, "dtype", None)
    return dtype if isinstance(dtype, torch.dtype) else None


def pipeline_device(pipe: Any) -> torch.device | None:
    device = getattr(pipe, "device", None)
    return device if isinstance(device, torch.device) else None
