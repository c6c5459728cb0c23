"""Who registered each backbone, weights file and metric, and which names were replaced.

The registries refuse a name that is already taken, so a plugin cannot silently replace a
built-in metric or network: a second registration must pass ``replace=True``, and every such
replacement is recorded here; result manifests list them (:func:`replacements`).
:func:`genmetrics.catalog.load` names the plugin being loaded with :func:`registering`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from genmetrics.errors import UserError

BUILT_IN = "built in"

_lock = threading.Lock()
_loading: list[str] = []
_origins: dict[tuple[str, str], str] = {}
_replaced: list[dict[str, str]] = []


@contextlib.contextmanager
def registering(origin: str) -> Iterator[None]:
    """Attribute the registrations made inside the block to ``origin`` (e.g. ``plugin 'x'``)."""
    _loading.append(origin)
    try:
        yield
    finally:
        _loading.pop()


def current_origin() -> str:
    return _loading[-1] if _loading else BUILT_IN


def claim(kind: str, name: str, taken: bool, replace: bool, function: str) -> None:
    """Check that ``name`` may be registered as a ``kind`` and note who registers it.

    ``taken``: the registry already holds ``name``. Then, without ``replace``, a
    :class:`UserError` names the owner and both ways out; with it, the replacement is recorded.
    """
    with _lock:
        owner = _origins.get((kind, name), BUILT_IN)
        if taken:
            if not replace:
                raise UserError(
                    f"{kind} '{name}' is already registered ({owner}); register it under "
                    f"another name, or call {function}(..., replace=True) to replace it "
                    "(result manifests then list the replacement)"
                )
            _replaced.append({"kind": kind, "name": name, "replaced": owner, "by": current_origin()})
        _origins[(kind, name)] = current_origin()


def replacements() -> list[dict[str, str]]:
    """Every registration that replaced an existing name: kind, name, whose it was, by whom."""
    with _lock:
        return [dict(r) for r in _replaced]
