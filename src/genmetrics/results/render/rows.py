"""Per-image rows for reports: keys, styles, per-image metric columns, seeds, reading back.

A row is one dict of a per-image table (``id``, ``path``, ``sha256``, optional ``prompt``,
``style``, ``prompt_id``, ``seed`` and one numeric column per per-image metric). Keys and
styles follow :mod:`genmetrics.comparison.scores`: the key of a row is ``(prompt id, sample)``
(``prompt_id`` else the id without its ``_kN`` suffix) and its style is ``style`` else the
first folder of the id (``all`` for a flat folder).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from genmetrics.prompts.attach import prompt_id_of

__all__ = [
    "META_COLUMNS",
    "add_generation_fields",
    "metric_columns",
    "read_rows",
    "row_key",
    "row_style",
]

META_COLUMNS = frozenset(
    {"id", "path", "sha256", "prompt", "style", "prompt_id", "seed", "set", "sample", "image"}
)


def row_key(row: dict[str, Any]) -> tuple[str, int]:
    pid, sample = prompt_id_of(str(row["id"]))
    return str(row.get("prompt_id") or pid), sample


def row_style(row: dict[str, Any]) -> str:
    style = row.get("style")
    if style not in (None, ""):
        return str(style)
    image_id = str(row["id"])
    return image_id.split("/", 1)[0] if "/" in image_id else "all"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def metric_columns(rows: Sequence[dict[str, Any]], metrics: Iterable[str] = ()) -> list[str]:
    """Per-image score columns: named after a metric (``hps``, ``is.logit``…) or, without
    ``metrics``, every numeric column that is not an id, path, hash, prompt, style or seed."""
    if not rows:
        return []
    wanted = list(metrics)
    names = list(dict.fromkeys(k for r in rows[:50] for k in r))
    out = []
    for k in names:
        if k in META_COLUMNS or k.endswith("_nonfinite"):
            continue
        if wanted and k not in wanted and k.split(".", 1)[0] not in wanted:
            continue
        if any(_is_number(r.get(k)) for r in rows[:50]):
            out.append(k)
    return out


def add_generation_fields(rows: list[dict[str, Any]], source: str | os.PathLike | None) -> None:
    """Add ``seed`` (and ``prompt`` where absent) from the ``generation.jsonl`` of the folder
    the images came from (made by ``genmetrics generate``), in place. Nothing happens when
    there is no such file."""
    if source is None:
        return
    from genmetrics.generation.layout import MANIFEST_NAME
    from genmetrics.generation.manifest import read_records

    try:
        records = read_records(Path(source) / MANIFEST_NAME)
    except OSError:
        return
    if not records:
        return
    for row in rows:
        rec = records.get(str(row.get("id")))
        if rec is None:
            continue
        if "seed" not in row and rec.get("seed") is not None:
            row["seed"] = rec["seed"]
        if not row.get("prompt") and rec.get("prompt"):
            row["prompt"] = rec["prompt"]


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer() and math.isfinite(value) and "." not in text and "e" not in text.lower():
        return int(value)
    return value


def _unquote(text: str) -> str:
    """Undo the spreadsheet-formula defusing of :func:`genmetrics.results.escape.csv_cell`."""
    if text[:2] in ("'=", "'+", "'-", "'@", "'\t", "'\r"):
        return text[1:]
    return text


def read_rows(folder: Path, stem: str = "per_image") -> list[dict[str, Any]]:
    """Rows of ``STEM.parquet`` (else ``STEM.csv``) in ``folder``; ``[]`` when neither exists."""
    parquet, csv_path = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    if parquet.is_file():
        import pyarrow.parquet as pq

        return [dict(r) for r in pq.read_table(parquet).to_pylist()]
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="", encoding="utf-8") as f:
        out = []
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                if k is None:
                    continue
                v = _unquote(v or "")
                row[k] = v if k in ("id", "path", "sha256", "prompt", "style", "prompt_id", "set") else _number(v)
            out.append(row)
        return out
