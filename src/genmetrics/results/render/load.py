"""Read saved result folders back into documents, for ``genmetrics report``.

A folder written by ``--out`` holds one of ``compare.json`` (``genmetrics compare``),
``benchmark.json`` (``genmetrics benchmark``) or ``summary.json`` (``genmetrics evaluate``),
and the per-image table (``per_image.parquet`` / ``per_image.csv``; for a comparison one
``set`` column names the folder of each row).

A result folder is untrusted input: whatever it holds ends in one ``error:`` line naming the
file (malformed, too deeply nested or too large JSON, wrong types, a table that is not UTF-8
or not Parquet), never a traceback. Images for thumbnails are read only inside the result
folder and the folders the user names (``image_roots``, ``--image-root``; see
:class:`~genmetrics.results.render.images.ImageRoots`): a row's ``path`` is tried as
written, relative to those folders, to the run's working folder (``working_dir`` in the
manifest) and to the result folder's parent, and used only when its real path lies inside an
allowed folder. Any other image is a placeholder in the report.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genmetrics.errors import UserError
from genmetrics.results.render import build
from genmetrics.results.render.document import Document
from genmetrics.results.render.images import ImageRoots
from genmetrics.results.render.rows import add_generation_fields, read_rows

__all__ = ["KINDS", "MAX_DEPTH", "MAX_JSON_BYTES", "load_folder", "restore_nonfinite"]

KINDS = (("compare.json", "compare"), ("benchmark.json", "benchmark"), ("summary.json", "evaluate"))
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
MAX_JSON_BYTES = 256 << 20
"""A result JSON larger than this is refused before it is read (ours are a few MB)."""
MAX_DEPTH = 64
"""Nesting deeper than this is no genmetrics result (ours nest about 8 levels)."""
_FIX = "re-run the command with --out to write it again"


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


def _depth(obj: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of parsed JSON, counted without recursion (stops past ``limit``)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _read_json(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise UserError(
                f"{path} is {size:,} bytes, larger than any genmetrics result "
                f"({MAX_JSON_BYTES >> 20} MB at most); {_FIX}"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path} cannot be read as JSON ({_first_line(exc)}); {_FIX}") from None
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to be a genmetrics result; {_FIX}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a genmetrics result (not a JSON object)")
    if _depth(data) > MAX_DEPTH:
        raise UserError(
            f"{path} nests more than {MAX_DEPTH} levels deep: not a genmetrics result; {_FIX}"
        )
    return restore_nonfinite(data)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


_SHAPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "evaluate": {"metrics": dict, "counts": dict, "warnings": list, "skipped": list},
    "benchmark": {"metrics": dict, "counts": dict, "styles": list},
    "compare": {"metrics": dict, "sets": list, "styles": list, "baseline": str},
}
_ENTRY_SHAPES = {"evaluate": dict, "benchmark": dict, "compare": dict}


def _check_shape(path: Path, kind: str, data: dict[str, Any]) -> None:
    """The fields every builder reads have the JSON types the commands write."""
    fields: dict[str, Any] = {"manifest": dict, **_SHAPES[kind]}
    for key, want in fields.items():
        value = data.get(key)
        if value is not None and not isinstance(value, want):
            raise UserError(
                f"{path}: '{key}' is a {type(value).__name__}, expected a "
                f"{getattr(want, '__name__', want)}: not a genmetrics {kind} result; {_FIX}"
            )
    for name, entry in (data.get("metrics") or {}).items():
        if not isinstance(entry, _ENTRY_SHAPES[kind]):
            raise UserError(f"{path}: metric '{name}' is not a JSON object; {_FIX}")
    if kind == "compare" and not all(isinstance(s, dict) for s in data.get("sets") or []):
        raise UserError(f"{path}: 'sets' must be a list of JSON objects; {_FIX}")


def _rows(folder: Path) -> list[dict[str, Any]]:
    """The per-image table, or one ``error:`` line naming it."""
    try:
        rows = read_rows(folder)
    except UnicodeDecodeError:
        raise UserError(f"{folder / 'per_image.csv'} is not UTF-8 text; {_FIX}") from None
    except (csv.Error, OSError, ValueError, MemoryError) as exc:
        name = "per_image.parquet" if (folder / "per_image.parquet").is_file() else "per_image.csv"
        raise UserError(f"{folder / name} cannot be read ({_first_line(exc)}); {_FIX}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's own errors: a corrupt Parquet file
        raise UserError(
            f"{folder / 'per_image.parquet'} cannot be read ({type(exc).__name__}: "
            f"{_first_line(exc)}); {_FIX}"
        ) from None
    if not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{folder}: the per-image table has rows that are not records; {_FIX}")
    return rows


def _lookup(folder: Path, data: dict[str, Any], image_roots: Sequence[str | os.PathLike]):
    manifest = data.get("manifest") or {}
    wd = manifest.get("working_dir")
    bases = [Path(wd)] if isinstance(wd, str) and wd and "\0" not in wd else []
    roots = ImageRoots([folder, *image_roots], [*bases, folder.parent, Path.cwd()])

    def lookup(set_name: str, row: dict[str, Any]):
        path = row.get("path")
        if not path or not isinstance(path, str):
            return None, "no image path in the per-image table"
        return roots.reader(path)

    lookup.roots = roots  # type: ignore[attr-defined]  (the CLI counts refused images)
    return lookup


def load_folder(
    folder: str | Path, visuals_factory: Any = None, image_roots: Sequence[str | os.PathLike] = ()
) -> Document:
    """The document of one result folder; ``visuals_factory(lookup)`` → ``Visuals`` (HTML).
    Thumbnails read images only inside ``folder`` and ``image_roots``."""
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
    _check_shape(folder / name, kind, data)
    rows = _rows(folder)
    lookup = _lookup(folder, data, image_roots)
    visuals = visuals_factory(lookup) if visuals_factory is not None else None
    try:
        return _build(kind, folder, data, rows, visuals, lookup.roots)
    except UserError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError) as exc:
        raise UserError(
            f"{folder / name}: not a genmetrics {kind} result of a known form "
            f"({type(exc).__name__}: {_first_line(exc)}); {_FIX}"
        ) from None


def _build(
    kind: str, folder: Path, data: dict[str, Any], rows: list[dict[str, Any]], visuals,
    roots: ImageRoots,
) -> Document:
    if kind == "compare":
        sets = data.get("sets") or []
        names = [str(s.get("name")) for s in sets]
        by_set: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in rows:
            by_set.setdefault(str(r.get("set")), []).append(r)
        for s in sets:
            add_generation_fields(by_set.get(str(s.get("name")), []), _source(s.get("source"), roots))
        return build.compare_document(data, by_set, visuals)
    if kind == "benchmark":
        add_generation_fields(rows, _source(data.get("source"), roots))
        return build.benchmark_document(data, rows, visuals)
    refs = _reference_rows(folder, data, roots) if visuals is not None else []
    return build.evaluation_document(data, rows, visuals, str(folder), refs)


def _reference_rows(folder: Path, data: dict[str, Any], roots: ImageRoots) -> list[dict[str, Any]]:
    """The reference side's per-image table when the run saved one (``per_image_reference``:
    coverage per reference image), else its images listed inside the allowed folders."""
    from genmetrics.results.render.samples import reference_rows

    try:
        saved = read_rows(folder, "per_image_reference")
    except Exception as exc:  # noqa: BLE001 - as the generated side's table: one error line
        raise UserError(
            f"{folder}: per_image_reference cannot be read ({type(exc).__name__}: "
            f"{_first_line(exc)}); {_FIX}"
        ) from None
    return [r for r in saved if isinstance(r, dict)] or reference_rows(data, roots)


def _source(value: Any, roots: ImageRoots) -> str | None:
    """The recorded image folder whose ``generation.jsonl`` adds seeds and prompts, when
    that file lies inside the allowed folders (anything else is ignored)."""
    if not isinstance(value, str) or not value:
        return None
    from genmetrics.generation.layout import MANIFEST_NAME

    real, _ = roots.locate(os.path.join(value, MANIFEST_NAME))
    return os.path.dirname(real) if real is not None else None
