"""One intermediate form for every output, and one renderer per format.

Commands fill a :class:`Document` (:mod:`~genmetrics.results.render.build`); formats render
it: ``table`` (rich, to the terminal), ``markdown``, ``csv``, ``json``
(:mod:`~genmetrics.results.render.text`) and ``html`` (:mod:`~genmetrics.results.render.html`,
one self-contained file with plots and image grids). ``genmetrics report`` reads saved result
folders back into Documents (:mod:`~genmetrics.results.render.load`).
"""

from __future__ import annotations

from genmetrics.results.render.document import (
    Cell,
    Document,
    Figure,
    GridItem,
    GridRow,
    Headline,
    ImageGrid,
    Note,
    Records,
    Section,
    Table,
)

__all__ = [
    "FORMATS",
    "Cell",
    "Document",
    "Figure",
    "GridItem",
    "GridRow",
    "Headline",
    "ImageGrid",
    "Note",
    "Records",
    "Section",
    "Table",
    "render",
]

FORMATS = ("table", "markdown", "csv", "json", "html")


def render(doc: Document, fmt: str) -> str | None:
    """The text of ``doc`` in ``fmt``; ``table`` prints to the terminal and returns None."""
    from genmetrics.results.render import text

    fmt = getattr(fmt, "value", fmt)
    if fmt == "json":
        return text.render_json(doc)
    if fmt == "markdown":
        return text.render_markdown(doc)
    if fmt == "csv":
        return text.render_csv(doc)
    if fmt == "html":
        from genmetrics.results.render.html import render_html

        return render_html(doc)
    if fmt == "table":
        text.print_terminal(doc)
        return None
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
