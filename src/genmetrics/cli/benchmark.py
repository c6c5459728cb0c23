"""``genmetrics benchmark``: the per-style HPS v2 benchmark table of one image folder."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import (
    OutputFormat,
    allow_tf32_option,
    batch_size_option,
    command_manifest,
    device_option,
    dtype_option,
    emit,
    no_cache_option,
    offline_option,
    warn_lines,
)
from genmetrics.cli.metric_options import with_metric_options

app = typer.Typer()


ReportFormat = OutputFormat  # the one format enum (kept under its old name)


def suite_option(value: str) -> str | None:
    """``none`` (no suite: styles from folders, prompts from sidecar files) → ``None``."""
    return None if value.strip().lower() in ("", "none") else value


@app.command("benchmark")
@with_metric_options
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
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table, json, markdown, csv or html."),
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
        None, "--reference", "-r", help="Real images (or reference statistics) for FID/KID…"
    ),
    batch_size: int | None = batch_size_option(),
    device: str = device_option(),
    dtype: str = dtype_option(),
    allow_tf32: bool = allow_tf32_option(),
    offline: bool = offline_option(),
    no_cache: bool = no_cache_option(),
    metric_options: dict | None = None,
) -> None:
    """Per-style table (HPS v2 protocol: chunks of prompts, mean ± std, bootstrap CI) per metric."""
    from genmetrics.atomic import check_output_folder
    from genmetrics.comparison.benchmark import run_benchmark
    from genmetrics.comparison.render import benchmark_document, scored_rows, write_report

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
        dtype=dtype,
        allow_tf32=allow_tf32,
        offline=offline or None,
        cache=not no_cache,
        progress=True,
        **(metric_options or {}),
    )
    warn_lines(report.warnings)  # per-style values: one line per metric and kind
    html = fmt is OutputFormat.html or out is not None
    doc = benchmark_document(report, html=html, command=command_manifest())
    if out is not None:
        write_report(out, "benchmark", doc, scored_rows(report.scored))
    emit(doc, fmt, out)
