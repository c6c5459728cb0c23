"""Renderings of an :class:`EvaluationResult` in every output format, through the one
intermediate form (:mod:`genmetrics.results.render`): a terminal table, Markdown, CSV, JSON
and a self-contained HTML report. Texts are escaped for their format there.
"""

from __future__ import annotations

from typing import Any

from genmetrics.results.render import build
from genmetrics.results.render.document import Document
from genmetrics.results.result import EvaluationResult

__all__ = ["document", "images_of", "print_table", "render", "render_markdown"]


def images_of(result: EvaluationResult):
    """Image lookup for thumbnails: a per-image row's ``path`` read from disk."""
    from genmetrics.results.render.images import path_reader

    def lookup(set_name: str, row: dict[str, Any]):
        return path_reader(str(row.get("path") or ""), [])

    return lookup


def document(
    result: EvaluationResult, html: bool = False, source: str = "", top: int | None = None
) -> Document:
    """The document of ``result`` (``html``: with score distributions and best/worst images)."""
    visuals = None
    if html:
        from genmetrics.results.render.visuals import DEFAULT_TOP, Visuals

        visuals = Visuals(images_of(result), DEFAULT_TOP if top is None else top)
    from genmetrics.results.render.load import restore_nonfinite

    data = result.to_dict()
    doc = build.evaluation_document(restore_nonfinite(data), result.per_image, visuals, source,
                                    result.per_reference_image or None)
    doc.data = data  # the JSON object as the result writes it
    return doc


def render_markdown(result: EvaluationResult) -> str:
    from genmetrics.results.render.text import render_markdown as md

    return md(document(result))


def print_table(result: EvaluationResult) -> None:
    from genmetrics.results.render.text import print_terminal

    print_terminal(document(result))


def render(result: EvaluationResult, fmt: str) -> str | None:
    """Text of ``result`` in ``fmt`` (table/markdown/csv/json/html); ``table`` prints and
    returns None."""
    from genmetrics.results.render import render as render_doc

    fmt = getattr(fmt, "value", fmt)
    if fmt == "json":
        return result.to_json()
    return render_doc(document(result, html=fmt == "html"), fmt)
