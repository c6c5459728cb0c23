"""Documents of benchmark and comparison reports, and the files written under ``--out``.

The tables, CSV rows and JSON object are built by the one intermediate form
(:mod:`genmetrics.results.render`, see :mod:`genmetrics.results.render.build`) from the
report's JSON object, so every format (terminal, Markdown, CSV, JSON, HTML) shows the same
numbers. Cells read ``mean ± std`` (the HPS v2 table layout, e.g. ``30.0700 ± 0.3887``). CSV is
long format, one row per metric × set × style. Names and paths come from the user (styles,
``--names``, folders): each format escapes them (:mod:`genmetrics.results.escape`, Jinja2
autoescaping in HTML).

The ``Average`` of a set-level metric (FID, KID, IS…) is the mean of its style values, like
the HPS v2 paper's Average; its sections say so in a caption (the value on all images pooled
is a different quantity, reported in JSON only, as ``all_images``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genmetrics.atomic import atomic_write_text
from genmetrics.comparison.benchmark import BenchmarkReport
from genmetrics.comparison.compare import CompareReport
from genmetrics.comparison.scoring import ScoredSet
from genmetrics.results.io import output_folder, write_json, write_table
from genmetrics.results.numbers import format_number, jsonable
from genmetrics.results.render import build
from genmetrics.results.render.build import (
    BENCHMARK_CSV_COLUMNS,
    COMPARE_CSV_COLUMNS,
    PER_IMAGE_NOTE,
    SET_LEVEL_NOTE,
)
from genmetrics.results.render.document import Document
from genmetrics.results.render.rows import add_generation_fields
from genmetrics.results.render.text import render_csv, render_json, render_markdown

__all__ = [
    "BENCHMARK_CSV_COLUMNS",
    "COMPARE_CSV_COLUMNS",
    "PER_IMAGE_NOTE",
    "SET_LEVEL_NOTE",
    "benchmark_document",
    "compare_document",
    "compare_rows",
    "fmt",
    "jsonable",
    "live_images",
    "render_json",
    "scored_rows",
    "write_report",
]


def fmt(x: float | None, digits: int = 4) -> str:
    """The one text formatter (:func:`genmetrics.results.numbers.format_number`)."""
    return format_number(x, digits)


def scored_rows(scored: ScoredSet) -> list[dict[str, Any]]:
    """Per-image rows of a folder with ``seed`` (and prompt) from its ``generation.jsonl``."""
    rows = [dict(r) for r in scored.rows]
    add_generation_fields(rows, scored.source)
    return rows


def live_images(sets: dict[str, ScoredSet]):
    """Image lookup for HTML thumbnails: the images each scored set read."""
    readers = {name: {i.id: i.read for i in s.items} for name, s in sets.items()}

    def lookup(set_name: str, row: dict[str, Any]):
        reader = readers.get(set_name, {}).get(str(row.get("id")))
        return (reader, "") if reader is not None else (None, "image not in the scored set")

    return lookup


def _visuals(sets: dict[str, ScoredSet], top: int | None):
    from genmetrics.results.render.visuals import DEFAULT_TOP, Visuals

    return Visuals(live_images(sets), DEFAULT_TOP if top is None else top)


def _with_command(data: dict[str, Any], command: dict[str, Any] | None) -> dict[str, Any]:
    if command:
        data["manifest"] = {**(data.get("manifest") or {}), **command}
    return data


def benchmark_document(
    report: BenchmarkReport,
    html: bool = False,
    command: dict[str, Any] | None = None,
    top: int | None = None,
) -> Document:
    """The document of a benchmark (``html``: with plots and image grids)."""
    data = _with_command(report.to_dict(), command)
    rows = scored_rows(report.scored) if html else []
    visuals = _visuals({str(data.get("source")): report.scored}, top) if html else None
    return build.benchmark_document(data, rows, visuals)


def compare_rows(report: CompareReport) -> dict[str, list[dict[str, Any]]]:
    """Per-image rows of each folder; a variant's rows also carry its paired similarity to the
    baseline image of the same id (``similarity.lpips``…, empty for an unpaired image)."""
    from genmetrics.results.render.fidelity import SIMILARITY_COLUMN

    out = {n: scored_rows(s) for n, s in zip(report.names, report.sets, strict=True)}
    for variant, sim in report.similarity.items():
        by_id = {r["id"]: r for r in sim.rows}
        for row in out.get(variant, []):
            pair = by_id.get(row.get("id"))
            for m in sim.metrics:
                row[SIMILARITY_COLUMN.format(m)] = None if pair is None else pair[m]
    return out


def compare_document(
    report: CompareReport,
    html: bool = False,
    command: dict[str, Any] | None = None,
    top: int | None = None,
) -> Document:
    """The document of a comparison (``html``: with plots and image grids)."""
    data = _with_command(report.to_dict(), command)
    rows = compare_rows(report) if html else None
    visuals = (
        _visuals(dict(zip(report.names, report.sets, strict=True)), top) if html else None
    )
    return build.compare_document(data, rows, visuals)


def write_report(
    out_dir: str | Path,
    stem: str,
    doc: Document,
    per_image: Sequence[dict[str, Any]] = (),
    html: bool = True,
) -> dict[str, Path]:
    """Write ``STEM.json``, ``STEM.csv``, ``STEM.md``, ``per_image.csv`` (when rows are given)
    and ``report.html`` (when ``html``) under ``out_dir`` as one set, renamed into place whole
    (:func:`genmetrics.results.io.output_folder`)."""
    from genmetrics.results.render.html import render_html

    out = Path(out_dir)
    names = {"json": f"{stem}.json", "csv": f"{stem}.csv", "markdown": f"{stem}.md"}
    if per_image:
        names["per_image"] = "per_image.csv"
    if html:
        names["html"] = "report.html"
    with output_folder(out) as tmp:
        write_json(tmp / names["json"], jsonable(doc.data))
        atomic_write_text(tmp / names["csv"], render_csv(doc))
        atomic_write_text(tmp / names["markdown"], render_markdown(doc))
        if per_image:
            write_table(tmp / names["per_image"], list(per_image))
        if html:
            atomic_write_text(tmp / names["html"], render_html(doc))
    return {key: out / name for key, name in names.items()}
