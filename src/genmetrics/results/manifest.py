"""Provenance: every result carries how it was made."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
from typing import Any

from genmetrics.overrides import replacements

LIBRARIES = ("genmetrics", "torch", "numpy", "scipy", "pillow", "transformers", "diffusers", "safetensors")


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def base_manifest(**fields: Any) -> dict[str, Any]:
    out = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        **fields,
    }
    replaced = replacements()  # a plugin that replaced a built-in metric, backbone or weights
    if replaced:
        out["replaced_registrations"] = replaced
    return out
