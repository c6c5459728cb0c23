"""Renderings of benchmark and comparison reports: terminal (rich), Markdown, CSV, JSON.

All renderers work from one list of :class:`Section` (title, header, rows of text) so the
terminal and Markdown views show the same numbers. Cells read ``mean ± std`` (the HPS v2
table layout, e.g. ``30.0700 ± 0.3887``). CSV is long format, one row per metric × set ×
style. Non-finite numbers are written ``inf`` / ``-inf`` / ``nan`` in text and CSV; in JSON
they are ``null`` with a ``<key>_nonfinite`` reason beside them.

Names and paths come from the user (styles, ``--names``, folders), so every text is escaped for
its format (:mod:`genmetrics.results.escape`): CSV cells that a spreadsheet would run as a
formula get a leading ``'``, Markdown cells, titles and captions render literally (no HTML, no
column breaks), and the terminal table shows ``[...]`` as typed instead of as rich markup.

The ``Average`` of a set-level metric (FID, KID, IS…) is the mean of its style values, like
the HPS v2 paper's Average; its sections say so in a caption (the value on all images pooled
is a different quantity, reported in JSON only, as ``all_images``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genmetrics.atomic import atomic_write_text
from genmetrics.comparison.benchmark import BenchmarkReport
from genmetrics.comparison.compare import CompareReport
from genmetrics.comparison.tables import AVERAGE, Cell
from genmetrics.results.escape import csv_cell, markdown_cell
from genmetrics.results.io import output_folder, write_json, write_table
from genmetrics.results.numbers import format_number
from genmetrics.results.numbers import jsonable as to_jsonable

__all__ = [
    "COMPARE_CSV_COLUMNS",
    "Section",
    "benchmark_csv_rows",
    "benchmark_sections",
    "compare_csv_rows",
    "compare_sections",
    "jsonable",
    "print_sections",
    "render_csv",
    "render_markdown",
    "write_report",
]

COMPARE_CSV_COLUMNS = (
    "metric",
    "variant",
    "style",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "verdict",
    "p_value_wilcoxon",
    "n",
    "kind",
)
BENCHMARK_CSV_COLUMNS = (
    "metric",
    "style",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n_prompts",
    "n_images",
    "missing_prompts",
    "method",
)


SET_LEVEL_NOTE = (
    "set-level metric: each style's value is computed on that style's images; Average = mean "
    "of the style values (as in the HPS v2 paper), not the value on all images pooled (in the "
    "JSON as all_images)"
)
PER_IMAGE_NOTE = "Average = mean of all prompt scores of all styles"


@dataclass(frozen=True)
class Section:
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


def fmt(x: float | None, digits: int = 4) -> str:
    """The one text formatter (:func:`genmetrics.results.numbers.format_number`)."""
    return format_number(x, digits)


def cell_text(cell: Cell) -> str:
    if cell.n_images == 0 and math.isnan(cell.mean):
        return "—"
    return fmt(cell.mean) if cell.std is None else f"{fmt(cell.mean)} ± {fmt(cell.std)}"


def ci_text(low: float | None, high: float | None) -> str:
    return "" if low is None else f"[{fmt(low)}, {fmt(high)}]"


def _p(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.1e}" if 0 < x < 1e-3 else fmt(x)


# ---------------------------------------------------------------- benchmark


def benchmark_sections(report: BenchmarkReport) -> list[Section]:
    cov = report.scored.coverage
    missing = cov.missing_by_style if cov is not None else {}
    counts = report.scored.counts()
    caption = f"{report.scored.source}: {counts['images']} images, {counts['prompts']} prompts"
    if cov is not None:
        caption += (
            f", suite {report.suite} ({cov.n_prompts} prompts), {len(cov.missing_prompts)} missing"
        )
        if cov.unmatched_images:
            caption += f", {len(cov.unmatched_images)} images without prompt"
    if counts["unreadable_skipped"]:
        caption += f", {counts['unreadable_skipped']} unreadable"
    sections = []
    for metric, table in report.tables.items():
        rows = []
        for c in table.cells:
            miss = sum(missing.values()) if c.style == AVERAGE else missing.get(c.style, 0)
            rows.append(
                [
                    c.style,
                    cell_text(c),
                    ci_text(c.ci_low, c.ci_high),
                    str(c.n_prompts) if c.method not in ("set", "styles-mean") else "",
                    str(c.n_images),
                    str(miss) if cov is not None else "",
                ]
            )
        per_image = metric in report.scored.per_image
        note = (
            f"mean of {report.n_chunks} chunk means ± population std of chunk means; "
            "95% bootstrap CI of the mean"
            if per_image
            else "set-level metric computed on each style's images (± its own std)"
        )
        footnote = PER_IMAGE_NOTE if per_image else SET_LEVEL_NOTE
        sections.append(
            Section(
                f"{metric} — {note}",
                ["style", "mean ± std", "95% CI", "prompts", "images", "missing"],
                rows,
                f"{caption}. {footnote}",
            )
        )
    return sections


def benchmark_csv_rows(report: BenchmarkReport) -> list[dict[str, Any]]:
    cov = report.scored.coverage
    missing = cov.missing_by_style if cov is not None else {}
    rows = []
    for metric, table in report.tables.items():
        for c in table.cells:
            miss = sum(missing.values()) if c.style == AVERAGE else missing.get(c.style, 0)
            rows.append(
                {
                    "metric": metric,
                    "style": c.style,
                    "mean": c.mean,
                    "std": c.std,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "n_prompts": c.n_prompts,
                    "n_images": c.n_images,
                    "missing_prompts": miss if cov is not None else None,
                    "method": c.method,
                }
            )
    return rows


# ---------------------------------------------------------------- compare


def compare_sections(report: CompareReport) -> list[Section]:
    styles = [*report.styles, AVERAGE]
    sections: list[Section] = []
    for metric in report.metrics:
        arrow = "↑" if report.higher_is_better(metric) else "↓"
        rows = [
            [name, *(cell_text(report.tables[metric][name].cell(s)) for s in styles)]
            for name in report.names
        ]
        per_image = metric in report.paired
        note = (
            f"mean of {report.n_chunks} chunk means ± population std of chunk means; "
            + PER_IMAGE_NOTE
            if per_image
            else SET_LEVEL_NOTE
        )
        sections.append(Section(f"{metric} {arrow}", ["", *styles], rows, note))
        if metric in report.paired:
            prow = []
            for variant, pc in report.paired[metric].items():
                for s in styles:
                    r = pc.by_style.get(s)
                    if r is None:
                        prow.append([variant, s, "", "", "", "", "n/a (< 2 prompts)"])
                        continue
                    prow.append(
                        [
                            variant,
                            s,
                            fmt(r.mean_difference),
                            ci_text(r.ci_low, r.ci_high),
                            _p(r.p_value_ttest),
                            _p(r.p_value_wilcoxon),
                            r.verdict,
                        ]
                    )
            margin = report.margins.get(metric, 0.0)
            sections.append(
                Section(
                    f"{metric}: paired difference vs {report.names[0]} (variant − baseline), "
                    f"margin {fmt(margin)}",
                    ["variant", "style", "diff", "95% CI", "p (t-test)", "p (Wilcoxon)", "verdict"],
                    prow,
                )
            )
    if report.similarity:
        rows = []
        for variant in report.variants:
            summary = report.similarity_summary(variant)
            for m in report.similarity_metrics:
                rows.append([variant, m, *(fmt(summary[s][m]["value"]) for s in styles)])
        sections.append(
            Section(
                f"paired image similarity vs {report.names[0]}",
                ["variant", "metric", *styles],
                rows,
            )
        )
    return sections


def compare_csv_rows(report: CompareReport) -> list[dict[str, Any]]:
    styles = [*report.styles, AVERAGE]
    rows: list[dict[str, Any]] = []
    for metric in report.metrics:
        for name in report.names:
            for s in styles:
                c = report.tables[metric][name].cell(s)
                row: dict[str, Any] = dict.fromkeys(COMPARE_CSV_COLUMNS)
                row.update(
                    metric=metric,
                    variant=name,
                    style=s,
                    mean=c.mean,
                    std=c.std,
                    ci_low=c.ci_low,
                    ci_high=c.ci_high,
                    n=c.n_prompts or c.n_images,
                    kind="score",
                )
                if name != report.names[0]:
                    if metric in report.paired:
                        r = report.paired[metric][name].by_style.get(s)
                        if r is not None:
                            row.update(
                                diff=r.mean_difference,
                                diff_ci_low=r.ci_low,
                                diff_ci_high=r.ci_high,
                                p_value=r.p_value_ttest,
                                verdict=r.verdict,
                                p_value_wilcoxon=r.p_value_wilcoxon,
                            )
                    else:
                        row["diff"] = report.set_level_diff(metric, name, s)
                rows.append(row)
    for variant in report.similarity:
        summary = report.similarity_summary(variant)
        for s in styles:
            for m in report.similarity_metrics:
                row = dict.fromkeys(COMPARE_CSV_COLUMNS)
                row.update(
                    metric=m,
                    variant=variant,
                    style=s,
                    mean=summary[s][m]["value"],
                    std=summary[s][m]["std"],
                    n=summary[s][m]["n"],
                    kind="similarity",
                )
                rows.append(row)
    return rows


# ---------------------------------------------------------------- formats


def render_markdown(sections: Sequence[Section], title: str = "") -> str:
    """Markdown of ``sections``; every text is escaped with :func:`markdown_cell`."""
    md = markdown_cell
    lines = [f"# {md(title)}", ""] if title else []
    for sec in sections:
        lines += [f"## {md(sec.title)}", ""]
        lines.append("| " + " | ".join(md(h) if h else " " for h in sec.header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(sec.header) - 1)) + "|")
        lines += ["| " + " | ".join(md(c) for c in r) + " |" for r in sec.rows]
        if sec.caption:
            lines += ["", f"_{md(sec.caption)}_"]
        lines.append("")
    return "\n".join(lines)


def print_sections(sections: Sequence[Section]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for sec in sections:
        table = Table(title=escape(sec.title), caption=escape(sec.caption) if sec.caption else None)
        for i, h in enumerate(sec.header):
            table.add_column(escape(h), justify="left" if i == 0 else "right")
        for r in sec.rows:
            table.add_row(*(escape(c) for c in r))
        console.print(table)


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return fmt_full(v)
    return csv_cell(v)


def fmt_full(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def render_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _csv_value(row.get(k)) for k in columns})
    return buf.getvalue()


def jsonable(obj: Any) -> Any:
    """Plain JSON types by the one JSON policy (:func:`genmetrics.results.numbers.jsonable`):
    a non-finite number is ``null`` with a ``<key>_nonfinite`` reason beside it."""
    return to_jsonable(obj)


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(jsonable(doc), indent=2, allow_nan=False)


def write_report(
    out_dir: str | Path,
    stem: str,
    doc: dict[str, Any],
    csv_text: str,
    markdown: str,
    per_image: Sequence[dict[str, Any]] = (),
) -> dict[str, Path]:
    """Write ``STEM.json``, ``STEM.csv``, ``STEM.md`` (and ``per_image.csv`` when rows are
    given) under ``out_dir`` as one set, renamed into place whole (:func:`output_folder`)."""
    out = Path(out_dir)
    names = {"json": f"{stem}.json", "csv": f"{stem}.csv", "markdown": f"{stem}.md"}
    if per_image:
        names["per_image"] = "per_image.csv"
    with output_folder(out) as tmp:
        write_json(tmp / names["json"], jsonable(doc))
        atomic_write_text(tmp / names["csv"], csv_text)
        atomic_write_text(tmp / names["markdown"], markdown)
        if per_image:
            write_table(tmp / names["per_image"], list(per_image))
    return {key: out / name for key, name in names.items()}
