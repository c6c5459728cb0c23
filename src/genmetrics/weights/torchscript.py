"""Read the tensors of a TorchScript archive without executing anything in it.

Published weights often come as TorchScript (OpenAI CLIP, NVIDIA's and fid-helper's Inception).
``torch.jit.load`` would run the archive's code and ``torch.load(weights_only=True)`` refuses
TorchScript, so ``data.pkl`` is read here by a restricted unpickler that rebuilds tensors,
containers and inert stand-ins for the scripted modules, and refuses every other global.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from genmetrics.errors import UserError

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ScriptObject:
    """Stand-in for a scripted module or object: it only keeps its attribute dict."""

    def __init__(self, *args: Any) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {}


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _as_list(*items: Any) -> list[Any]:
    return list(items[0]) if len(items) == 1 and isinstance(items[0], list) else list(items)


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    view = storage.as_strided(tuple(size), tuple(stride), offset)
    whole = offset == 0 and view.numel() == storage.numel() and view.is_contiguous()
    return view if whole else view.clone()  # a tensor owning its whole storage needs no copy


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(file)
        self._archive = archive
        self._root = root
        self._storages: dict[str, torch.Tensor] = {}
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qual = f"{module}.{name}"
            if qual not in self._classes:
                self._classes[qual] = type(name, (ScriptObject,), {"qualname": qual})
            return self._classes[qual]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return _as_list
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key = pid[1], pid[2]
        numel = pid[4] if len(pid) >= 5 else None
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else storage_type
        if not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        if key not in self._storages:
            raw = bytearray(self._archive.read(f"{self._root}/data/{key}"))
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            self._storages[key] = flat if numel is None else flat[:numel]
        return self._storages[key]


def _collect(obj: Any, prefix: str, out: dict[str, torch.Tensor], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    state = obj.state if isinstance(obj, ScriptObject) else obj
    if not isinstance(state, dict):
        return
    for name, value in state.items():
        if not isinstance(name, str):
            continue
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, (ScriptObject, dict)):
            _collect(value, f"{prefix}{name}.", out, seen)


def is_torchscript(path: str | os.PathLike) -> bool:
    """A zip archive with a top-level ``*/data.pkl`` and ``*/constants.pkl`` (TorchScript)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") and n.count("/") == 1 for n in names)


def read_torchscript_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor attribute (parameters and buffers) of a TorchScript archive, by dotted name."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise UserError(f"{path}: not a TorchScript archive (no single data.pkl)")
        root = pickles[0].split("/", 1)[0]
        with archive.open(pickles[0]) as f:
            try:
                module = _RestrictedUnpickler(f, archive, root).load()
            except (pickle.UnpicklingError, KeyError, ValueError, RuntimeError) as exc:
                raise UserError(f"{path}: cannot read this TorchScript archive: {exc}") from None
    tensors: dict[str, torch.Tensor] = {}
    _collect(module, "", tensors, set())
    return tensors
