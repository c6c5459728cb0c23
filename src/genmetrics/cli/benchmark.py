"""``genmetrics benchmark``: the per-style HPS v2 benchmark table of one image folder."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from genmetrics.cli.common import echo

app = typer.Typer()


class ReportFormat(str, Enum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


def suite_option(value: str) -> str | None:
    """``none`` (no suite: styles from folders, prompts from sidecar files) → ``None``."""
    return None if value.strip().lower() in ("", "none") else value


def emit(fmt: ReportFormat, sections, markdown: str, csv_text: str, json_text: str) -> None:
    """Print one rendering of a report to stdout."""
    if fmt is ReportFormat.table:
        from genmetrics.comparison.render import print_sections

        print_sections(sections)
    elif fmt is ReportFormat.markdown:
        echo(markdown)
    elif fmt is ReportFormat.csv:
        echo(csv_text)
    else:
        echo(json_text)


@app.command("benchmark")
def benchmark_command(
    images: str = typer.Argument(
        ..., help="Images in the HPS v2 layout STYLE/NNNNN.png (samples STYLE/NNNNN_k1.png…)."
    ),
    suite: str = typer.Option(
        "hpdv2", "--suite", help="Prompt suite name or file ('none': styles from folders)."
    ),
    metrics: str = typer.Option(
        "hps,clip_score,aesthetic",
        "--metrics",
        "-m",
        help="Comma-separated metrics; set-level ones (is, fid…) are computed per style.",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="List and count prompts without images instead of failing."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write benchmark.json/.csv/.md and per_image.csv here."
    ),
    n_chunks: int | None = typer.Option(
        None,
        "--n-chunks",
        help="Chunks per style for per-image metrics (default 10: HPS v2, 10 × 80 prompts).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the bootstrap and of KID/IS subsets (default 0)."
    ),
    reference: str | None = typer.Option(
        None, "--reference", "-r", help="Real images for FID/KID…"
    ),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda, cuda:N, mps."),
    offline: bool = typer.Option(False, "--offline", help="Never download weights."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Do not read or write the feature cache."
    ),
) -> None:
    """Per-style table (HPS v2 protocol: chunks of prompts, mean ± std, bootstrap CI) per metric."""
    from genmetrics.atomic import check_output_folder
    from genmetrics.comparison.benchmark import run_benchmark
    from genmetrics.comparison.render import (
        BENCHMARK_CSV_COLUMNS,
        benchmark_csv_rows,
        benchmark_sections,
        render_csv,
        render_json,
        render_markdown,
        write_report,
    )

    if out is not None:
        check_output_folder(out)
    report = run_benchmark(
        images,
        metrics,
        suite_option(suite),
        allow_missing=allow_missing,
        n_chunks=n_chunks,
        seed=seed,
        reference=reference,
        batch_size=batch_size,
        device=device,
        offline=offline or None,
        cache=not no_cache,
        progress=True,
    )
    sections = benchmark_sections(report)
    markdown = render_markdown(sections, f"benchmark of {report.scored.source}")
    csv_text = render_csv(benchmark_csv_rows(report), BENCHMARK_CSV_COLUMNS)
    doc = report.to_dict()
    if out is not None:
        write_report(out, "benchmark", doc, csv_text, markdown, report.scored.rows)
    emit(fmt, sections, markdown, csv_text, render_json(doc))
