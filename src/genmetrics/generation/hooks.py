"""Pipeline hooks: ``module:function`` or ``path/to/file.py:function``.

A hook is called once with the loaded pipeline and returns the pipeline to use (the same
object, modified, or another one): the place for ``torch.compile``, quantisation, caching or
CPU offload.

A run records the hook's fingerprint (:func:`hook_fingerprint`): the function's name and the
sha256 of the source file that defines it (only that file: modules it imports are not
covered).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
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


def _split(spec: str) -> tuple[str, str, bool]:
    """``(target, attribute, target is a file)`` of a hook spec."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise UserError(
            f"pipeline hook {spec!r} is not of the form module:function or path/to/file.py:function"
        )
    return target, attr, target.endswith(".py") or "/" in target or "\\" in target


def resolve_hook(spec: str) -> Hook:
    """The callable named by ``spec`` (``module:function`` or ``file.py:function``)."""
    target, attr, is_file = _split(spec)
    if is_file:
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


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _module_file(target: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError) as exc:
        raise UserError(
            f"pipeline hook module {target!r} cannot be imported ({exc}); check the name or "
            "give a file path such as path/to/hook.py:function"
        ) from None
    if spec is None:
        raise UserError(
            f"pipeline hook module {target!r} cannot be imported (not found); check the name or "
            "give a file path such as path/to/hook.py:function"
        )
    origin = spec.origin
    return Path(origin) if origin and Path(origin).is_file() else None


def _callable_source(hook: Hook) -> tuple[Path | None, str | None]:
    """Source file of a callable (of its class for an instance) and, without one, its source."""
    obj: Any = hook
    if not (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)):
        obj = type(obj)
    try:
        file = inspect.getsourcefile(obj)
    except TypeError:
        file = None
    if file and Path(file).is_file():
        return Path(file), None
    try:
        return None, inspect.getsource(obj)
    except (OSError, TypeError):
        return None, None


def hook_fingerprint(hook: str | Hook | None) -> dict[str, Any] | None:
    """What identifies a hook: ``spec``, ``function``, ``file`` and ``source_sha256``.

    ``source_sha256`` is the sha256 of the file that defines the function (the source of the
    function itself when there is no file), None when no source can be found. The hook is not
    run; a ``module:function`` hook's module is located but not imported.
    """
    if hook is None:
        return None
    file: Path | None
    if isinstance(hook, str):
        target, attr, is_file = _split(hook)
        if is_file:
            file = Path(target)
            if not file.is_file():
                raise UserError(f"pipeline hook file {file} does not exist; check the path")
        else:
            file = _module_file(target)
        function, text = attr, None
    else:
        function = getattr(hook, "__qualname__", None) or type(hook).__qualname__
        file, text = _callable_source(hook)
    if file is not None:
        digest: str | None = _sha256_file(file)
    elif text is not None:
        digest = hashlib.sha256(text.encode()).hexdigest()
    else:
        digest = None
    return {
        "spec": hook_name(hook),
        "function": function,
        "file": str(file.resolve()) if file is not None else None,
        "source_sha256": digest,
    }


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
