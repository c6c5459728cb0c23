"""Pipeline hooks: ``module:function`` or ``path/to/file.py:function``.

A hook is called once with the loaded pipeline and returns the pipeline to use (the same
object, modified, or another one): the place for ``torch.compile``, quantisation, caching or
CPU offload.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genmetrics.errors import UserError

Hook = Callable[[Any], Any]


def _load_file_module(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"pipeline hook file {path} does not exist; check the path")
    name = "genmetrics_hook_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"pipeline hook file {path} cannot be imported; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(name, None)
        raise
    return module


def resolve_hook(spec: str) -> Hook:
    """The callable named by ``spec`` (``module:function`` or ``file.py:function``)."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise UserError(
            f"pipeline hook {spec!r} is not of the form module:function or path/to/file.py:function"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file_module(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise UserError(
                f"pipeline hook module {target!r} cannot be imported ({exc}); check the name or "
                "give a file path such as path/to/hook.py:function"
            ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"pipeline hook {spec!r}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UserError(f"pipeline hook {spec!r} is not callable; name a function")
    return obj


def hook_name(hook: str | Hook | None) -> str | None:
    """A printable name of a hook for the run settings."""
    if hook is None or isinstance(hook, str):
        return hook
    module = getattr(hook, "__module__", None) or "?"
    qualname = getattr(hook, "__qualname__", None) or type(hook).__name__
    return f"{module}:{qualname}"


def apply_hook(pipeline: Any, hook: str | Hook | None) -> Any:
    """Run ``hook`` on ``pipeline`` and return its result (``pipeline`` when no hook)."""
    if hook is None:
        return pipeline
    fn = resolve_hook(hook) if isinstance(hook, str) else hook
    result = fn(pipeline)
    if result is None:
        raise UserError(
            f"pipeline hook {hook_name(hook)} returned None; it must return the pipeline "
            "(end it with `return pipe`)"
        )
    return result
