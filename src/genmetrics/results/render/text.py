"""Text renderings of a :class:`~genmetrics.results.render.document.Document`: the terminal
table (rich), Markdown, CSV and JSON.

Every user-provided text is escaped for its format (:mod:`genmetrics.results.escape`):
Markdown cells, headings and captions render literally; CSV cells that a spreadsheet would run
as a formula get a leading ``'``; the terminal shows ``[...]`` as typed, not as rich markup.
Numbers go through the one formatter :func:`genmetrics.results.numbers.format_number` (in
CSV, full precision: ``repr``; non-finite ``inf``/``-inf``/``nan``), JSON through the one JSON
policy :func:`genmetrics.results.numbers.jsonable`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from genmetrics.results.escape import csv_cell, markdown_cell
from genmetrics.results.numbers import jsonable
from genmetrics.results.render.document import Document, Note, Records, Table

__all__ = ["print_terminal", "render_csv", "render_json", "render_markdown", "render_records"]


def render_markdown(doc: Document) -> str:
    """Markdown of the tables and notes of ``doc`` (plots and image grids are HTML only)."""
    md = markdown_cell
    lines = [f"# {md(doc.title)}", ""] if doc.title else []
    for sec in doc.text_sections():
        if sec.title:
            lines += [f"## {md(sec.title)}", ""]
        for block in sec.blocks:
            if isinstance(block, Table):
                lines += _markdown_table(block)
            elif isinstance(block, Note):
                lines += [md(block.text), ""]
    return "\n".join(lines)


def _markdown_table(table: Table) -> list[str]:
    md = markdown_cell
    rule = {"left": "---", "right": "---:", "center": ":---:"}
    lines = ["| " + " | ".join(md(h) if h else " " for h in table.columns) + " |"]
    lines.append("|" + "|".join(rule[a] for a in table.alignment()) + "|")
    lines += ["| " + " | ".join(md(c.display()) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines += ["", f"_{md(table.caption)}_"]
    lines.append("")
    return lines


def print_terminal(doc: Document, console: Any = None) -> None:
    """Print each table of ``doc`` as a rich table (titles, headers and cells escaped)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table as RichTable

    console = console or Console()
    for sec in doc.text_sections():
        for block in sec.blocks:
            if isinstance(block, Note):
                console.print(escape(block.text))
                continue
            if not isinstance(block, Table):
                continue
            title = block.title or sec.title
            table = RichTable(
                title=escape(title) if title else None,
                caption=escape(block.caption) if block.caption else None,
            )
            for col, justify in zip(block.columns, block.alignment(), strict=True):
                table.add_column(escape(col), justify=justify)  # type: ignore[arg-type]
            for row in block.rows:
                table.add_row(*(escape(c.display()) for c in row))
            console.print(table)


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(float(v))
    return csv_cell(v)


def render_records(records: Records) -> str:
    """CSV text of long-format rows (full-precision numbers, text cells defused)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(records.columns), lineterminator="\n")
    w.writer.writerow([csv_cell(c) for c in records.columns])
    for row in records.rows:
        w.writerow({k: _csv_value(row.get(k)) for k in records.columns})
    return buf.getvalue()


def render_csv(doc: Document) -> str:
    """CSV of ``doc.records`` (else of its first table, cells as displayed)."""
    if doc.records is not None:
        return render_records(doc.records)
    tables = [t for s in doc.text_sections() for t in s.tables]
    if not tables:
        return ""
    t = tables[0]
    rows = [{c: cell.display() for c, cell in zip(t.columns, r, strict=True)} for r in t.rows]
    return render_records(Records(t.columns, rows))


def render_json(doc: Document | dict[str, Any]) -> str:
    """``doc.data`` as JSON (non-finite numbers: ``null`` and a ``<key>_nonfinite`` reason)."""
    data = doc.data if isinstance(doc, Document) else doc
    return json.dumps(jsonable(data), indent=2, allow_nan=False)
