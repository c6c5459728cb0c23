"""The HTML report: one self-contained file (inline CSS, inline SVG plots, thumbnails as
``data:`` URIs; no script, no external reference), from a Jinja2 template with autoescaping.

Every text of the document (prompts, file names, set and style names, manifest values) goes
through Jinja2's HTML escaping; only two kinds of markup are inserted as they are: the SVG
plots made by :mod:`genmetrics.results.render.plots` and the thumbnails' ``data:image/…``
URIs made by :mod:`genmetrics.results.render.images`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

from genmetrics.results.numbers import jsonable
from genmetrics.results.render.document import (
    Cell,
    Document,
    Figure,
    ImageGrid,
    Note,
    Table,
)

__all__ = ["render_html"]

_SIZE_MARK = "\x00GENMETRICS-REPORT-SIZE\x00"


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("genmetrics.results.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _cell_view(cell: Cell, align: str) -> dict[str, Any]:
    classes = ["num"] if align == "right" else []
    sub = ""
    if cell.kind == "verdict":
        classes.append(f"v v-{cell.text.split(' ')[0]}" if cell.text else "v")
    elif cell.kind == "estimate":
        sub = cell.ci_display
        if cell.empty:
            classes.append("empty")
    elif cell.kind == "p" and cell.value is not None and cell.value < 0.05:
        classes.append("sig")
    if cell.tone in ("worse", "better"):
        classes.append(f"t-{cell.tone}")
    title = ""
    if cell.kind in ("number", "estimate", "p") and cell.value is not None:
        title = repr(float(cell.value))
    return {"text": cell.display(), "sub": sub, "cls": " ".join(classes), "title": title}


def _table_view(table: Table) -> dict[str, Any]:
    align = table.alignment()
    return {
        "type": "table",
        "columns": [{"text": c, "cls": "num" if a == "right" else ""} for c, a in zip(table.columns, align, strict=True)],
        "rows": [[_cell_view(c, a) for c, a in zip(row, align, strict=True)] for row in table.rows],
        "caption": table.caption,
    }


def _block_view(block: Any) -> dict[str, Any]:
    from markupsafe import Markup

    if isinstance(block, Table):
        return _table_view(block)
    if isinstance(block, Figure):
        return {"type": "figure", "svg": Markup(block.svg), "caption": block.caption}
    if isinstance(block, ImageGrid):
        return {"type": "grid", "grid": block}
    if isinstance(block, Note):
        return {"type": "note", "text": block.text}
    raise TypeError(f"unknown block {type(block).__name__}")


def _safe_uri(uri: str | None) -> str | None:
    if uri and uri.startswith(("data:image/webp;base64,", "data:image/jpeg;base64,", "data:image/png;base64,")):
        return uri
    return None


def _manifest_text(manifest: dict[str, Any] | None) -> str:
    if not manifest:
        return ""
    return json.dumps(jsonable(manifest), indent=2, ensure_ascii=False, allow_nan=False)


def _command(manifest: dict[str, Any] | None) -> str:
    cmd = (manifest or {}).get("command")
    if isinstance(cmd, list):
        return shlex.join(str(c) for c in cmd)
    return "" if cmd is None else str(cmd)


def _size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def render_html(docs: Document | Sequence[Document], title: str | None = None) -> str:
    """One HTML page of one or more documents (``genmetrics report DIR1 DIR2…``)."""
    docs = [docs] if isinstance(docs, Document) else list(docs)
    parts = []
    n_thumbs = 0
    for i, doc in enumerate(docs):
        sections = []
        for j, sec in enumerate(doc.sections):
            blocks = [_block_view(b) for b in sec.blocks]
            for b in blocks:
                if b["type"] == "grid":
                    for row in b["grid"].rows:
                        for item in row.items:
                            item.uri = _safe_uri(item.uri)
                            n_thumbs += item.uri is not None
            sections.append(
                {
                    "title": sec.title,
                    "anchor": f"d{i}-{sec.anchor or f's{j}'}",
                    "blocks": blocks,
                }
            )
        parts.append(
            {
                "title": doc.title,
                "subtitle": doc.subtitle,
                "kind": doc.kind,
                "headlines": doc.headlines,
                "sections": sections,
                "manifest": _manifest_text(doc.manifest),
                "command": _command(doc.manifest),
                "created": (doc.manifest or {}).get("created", ""),
                "anchor": f"d{i}",
            }
        )
    page_title = title or (docs[0].title if len(docs) == 1 else "genmetrics report")
    from genmetrics.version import __version__

    text = _environment().get_template("report.html.j2").render(
        title=page_title,
        docs=parts,
        version=__version__,
        size_mark=_SIZE_MARK,
        n_thumbs=n_thumbs,
    )
    size = len(text.encode("utf-8"))
    return text.replace(_SIZE_MARK, _size_text(size))
