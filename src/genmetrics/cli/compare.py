"""``genmetrics compare``: variants against a baseline, per style, with paired statistics."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.benchmark import suite_option
from genmetrics.cli.common import OutputFormat, command_manifest, emit
from genmetrics.cli.metric_options import with_metric_options

app = typer.Typer()


@app.command("compare")
@with_metric_options
def compare_command(
    folders: list[str] = typer.Argument(
        ..., help="BASELINE_DIR VARIANT_DIR… (same prompts and layout)."
    ),
    names: str | None = typer.Option(
        None, "--names", help="Comma-separated names, baseline first (default: folder names)."
    ),
    metrics: str = typer.Option("hps,clip_score,aesthetic", "--metrics", "-m"),
    suite: str = typer.Option(
        "hpdv2", "--suite", help="Prompt suite name or file ('none': styles from folders)."
    ),
    margin: float | None = typer.Option(
        None, "--margin", help="Equivalence margin of every per-image metric (score units)."
    ),
    margins: str | None = typer.Option(
        None, "--margins", help="Per-image metric margins, e.g. hps=0.1,clip_score=0.5."
    ),
    similarity: str | None = typer.Option(
        None, "--similarity", help="Paired image similarity vs the baseline: psnr,ssim,ms_ssim."
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Count images missing on one side instead of failing."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table, json, markdown, csv or html."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write compare.json/.csv/.md and per_image.csv here."
    ),
    n_chunks: int | None = typer.Option(
        None, "--n-chunks", help="Chunks per style for per-image metrics (default 10)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the bootstraps and of KID/IS subsets (default 0)."
    ),
    reference: str | None = typer.Option(None, "--reference", "-r"),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda, cuda:N, mps."),
    offline: bool = typer.Option(False, "--offline"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    metric_options: dict | None = None,
) -> None:
    """Per-metric style table per folder, paired differences with CI, p-values and verdicts."""
    from genmetrics.atomic import check_output_folder
    from genmetrics.comparison.compare import run_compare
    from genmetrics.comparison.render import compare_document, compare_rows, write_report
    from genmetrics.errors import UserError

    if len(folders) < 2:
        raise UserError("compare needs BASELINE_DIR and at least one VARIANT_DIR")
    if out is not None:
        check_output_folder(out)
    report = run_compare(
        folders[0],
        folders[1:],
        metrics,
        suite_option(suite),
        names=names.split(",") if names else None,
        margin=margin,
        margins=margins,
        similarity=similarity,
        allow_missing=allow_missing,
        n_chunks=n_chunks,
        seed=seed,
        reference=reference,
        batch_size=batch_size,
        device=device,
        offline=offline or None,
        cache=not no_cache,
        progress=True,
        **(metric_options or {}),
    )
    html = fmt is OutputFormat.html or out is not None
    doc = compare_document(report, html=html, command=command_manifest())
    if out is not None:
        rows = [{"set": n, **r} for n, rs in compare_rows(report).items() for r in rs]
        write_report(out, "compare", doc, rows)
    emit(doc, fmt, out)
