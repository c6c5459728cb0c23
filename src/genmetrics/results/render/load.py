"""Read saved result folders back into documents, for ``genmetrics report``.

A folder written by ``--out`` holds one of ``compare.json`` (``genmetrics compare``),
``benchmark.json`` (``genmetrics benchmark``) or ``summary.json`` (``genmetrics evaluate``),
and the per-image table (``per_image.parquet`` / ``per_image.csv``; for a comparison one
``set`` column names the folder of each row). Images for thumbnails are found by each row's
``path``: as written, else relative to the working folder of the run (``working_dir`` in the
manifest), the result folder or its parent. A missing image is a placeholder in the report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genmetrics.errors import UserError
from genmetrics.results.render import build
from genmetrics.results.render.document import Document
from genmetrics.results.render.images import path_reader
from genmetrics.results.render.rows import add_generation_fields, read_rows

__all__ = ["KINDS", "load_folder", "restore_nonfinite"]

KINDS = (("compare.json", "compare"), ("benchmark.json", "benchmark"), ("summary.json", "evaluate"))
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def restore_nonfinite(obj: Any) -> Any:
    """Undo the JSON policy of :func:`genmetrics.results.numbers.jsonable`: a ``null`` with
    a ``<key>_nonfinite`` reason beside it becomes that float again; the reasons are dropped."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and key.endswith("_nonfinite") and key[: -len("_nonfinite")] in obj:
                continue
            reason = obj.get(f"{key}_nonfinite")
            if value is None and reason in _NONFINITE:
                out[key] = _NONFINITE[reason]
            else:
                out[key] = restore_nonfinite(value)
        return out
    if isinstance(obj, list):
        return [restore_nonfinite(v) for v in obj]
    return obj


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} cannot be read as JSON ({exc}); re-run the command with --out") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a genmetrics result (not a JSON object)")
    return restore_nonfinite(data)


def _lookup(folder: Path, data: dict[str, Any]):
    roots = []
    wd = (data.get("manifest") or {}).get("working_dir")
    if isinstance(wd, str) and wd:
        roots.append(Path(wd))
    roots += [folder, folder.parent]

    def lookup(set_name: str, row: dict[str, Any]):
        path = row.get("path")
        if not path:
            return None, "no image path in the per-image table"
        return path_reader(str(path), roots)

    return lookup


def load_folder(folder: str | Path, visuals_factory: Any = None) -> Document:
    """The document of one result folder; ``visuals_factory(lookup)`` → ``Visuals`` (HTML)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; pass folders written by evaluate/benchmark/compare --out")
    found = [(name, kind) for name, kind in KINDS if (folder / name).is_file()]
    if not found:
        raise UserError(
            f"{folder} holds no compare.json, benchmark.json or summary.json; pass a folder "
            "written by `genmetrics evaluate|benchmark|compare --out`"
        )
    name, kind = found[0]
    data = _read_json(folder / name)
    rows = read_rows(folder)
    visuals = visuals_factory(_lookup(folder, data)) if visuals_factory is not None else None
    if kind == "compare":
        sets = data.get("sets") or []
        names = [str(s.get("name")) for s in sets]
        by_set: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in rows:
            by_set.setdefault(str(r.get("set")), []).append(r)
        for s in sets:
            add_generation_fields(by_set.get(str(s.get("name")), []), s.get("source"))
        return build.compare_document(data, by_set, visuals)
    if kind == "benchmark":
        add_generation_fields(rows, data.get("source"))
        return build.benchmark_document(data, rows, visuals)
    return build.evaluation_document(data, rows, visuals, str(folder))
