"""The reference images of an evaluation, as rows for the HTML report's sample grids.

A result records its reference source (``manifest.reference``: a folder, archive or list of
paths; statistics files hold no images). :func:`reference_rows` lists it again — inside the
allowed folders only when ``roots`` is given (a saved, untrusted result folder; see
:class:`~genmetrics.results.render.images.ImageRoots`) — as rows with an ``id`` and a ``path``
the report's image lookup reads. A source that cannot be listed gives no rows, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genmetrics.results.render.images import ImageRoots

__all__ = ["reference_rows"]

_NO_IMAGES = (".npz", ".npy")


def reference_rows(data: Mapping[str, Any], roots: ImageRoots | None = None) -> list[dict[str, Any]]:
    """Rows ``{"id", "path"}`` of the images of ``data["manifest"]["reference"]``."""
    from genmetrics.errors import UserError
    from genmetrics.sources.items import items_from

    manifest = data.get("manifest")
    source = manifest.get("reference") if isinstance(manifest, Mapping) else None
    if not isinstance(source, str) or not source or "\0" in source or source.lower().endswith(_NO_IMAGES):
        return []
    if roots is not None:
        real, _ = roots.locate(source, folder=True)
        if real is None:
            real, _ = roots.locate(source)
        if real is None:
            return []
        source = real
    elif not Path(source).exists():
        return []
    try:
        items = items_from(source)
    except (UserError, OSError, ValueError):
        return []
    return [{"id": item.id, "path": item.file} for item in items if item.file]
