"""Readable renderings of an :class:`EvaluationResult`: a terminal table, Markdown, JSON."""

from __future__ import annotations

from genmetrics.results.result import EvaluationResult


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.4e}"
    return f"{x:.4f}"


def summary_rows(result: EvaluationResult) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, m in result.metrics.items():
        ci = f"[{_fmt(m.ci[0])}, {_fmt(m.ci[1])}]" if m.ci else ""
        rows.append((name, _fmt(m.value), _fmt(m.std), ci))
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
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(result)]
    lines += ["", f"_{_counts_line(result)}_"]
    return "\n".join(lines) + "\n"


def print_table(result: EvaluationResult) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="genmetrics", caption=_counts_line(result))
    for col, justify in (("metric", "left"), ("value", "right"), ("std", "right"), ("95% CI", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in summary_rows(result):
        table.add_row(*row)
    Console().print(table)


def render(result: EvaluationResult, fmt: str) -> str | None:
    """Text for ``json``/``markdown``; prints and returns None for ``table``."""
    if fmt == "json":
        return result.to_json()
    if fmt == "markdown":
        return render_markdown(result)
    print_table(result)
    return None
