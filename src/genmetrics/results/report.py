"""Readable renderings of an :class:`EvaluationResult`: a terminal table, Markdown, JSON.

Metric names and the counts line are escaped for their format: :func:`markdown_cell` in
Markdown, rich's markup escape in the terminal table.
"""

from __future__ import annotations

from genmetrics.results.escape import markdown_cell
from genmetrics.results.numbers import format_number
from genmetrics.results.result import EvaluationResult


def summary_rows(result: EvaluationResult) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, m in result.metrics.items():
        ci = f"[{format_number(m.ci[0])}, {format_number(m.ci[1])}]" if m.ci else ""
        rows.append((name, format_number(m.value), format_number(m.std), ci))
    return rows


def _counts_line(result: EvaluationResult) -> str:
    c = result.counts
    parts = [f"generated {c.get('generated')}"]
    if c.get("reference") is not None:
        parts.append(f"reference {c.get('reference')}")
    skipped = c.get("generated_skipped", 0) + c.get("reference_skipped", 0)
    if skipped:
        parts.append(f"skipped {skipped}")
    parts.append(f"protocol {result.manifest.get('protocol')}")
    return ", ".join(parts)


def render_markdown(result: EvaluationResult) -> str:
    lines = ["| metric | value | std | 95% CI |", "|---|---:|---:|---|"]
    for row in summary_rows(result):
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in row) + " |")
    lines += ["", f"_{markdown_cell(_counts_line(result))}_"]
    return "\n".join(lines) + "\n"


def print_table(result: EvaluationResult) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="genmetrics", caption=escape(_counts_line(result)))
    for col, justify in (("metric", "left"), ("value", "right"), ("std", "right"), ("95% CI", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in summary_rows(result):
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


def render(result: EvaluationResult, fmt: str) -> str | None:
    """Text for ``json``/``markdown``; prints and returns None for ``table``."""
    if fmt == "json":
        return result.to_json()
    if fmt == "markdown":
        return render_markdown(result)
    print_table(result)
    return None
