"""``genmetrics compare``: variants against a baseline, per style, with paired statistics."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.benchmark import ReportFormat, emit, suite_option

app = typer.Typer()


@app.command("compare")
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
        None, "--margin", help="Equivalence margin for every metric (score units)."
    ),
    margins: str | None = typer.Option(
        None, "--margins", help="Per-metric margins, e.g. hps=0.1,clip_score=0.5."
    ),
    similarity: str | None = typer.Option(
        None, "--similarity", help="Paired image similarity vs the baseline: psnr,ssim,ms_ssim."
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Count images missing on one side instead of failing."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write compare.json/.csv/.md and per_image.csv here."
    ),
    n_chunks: int = typer.Option(10, "--n-chunks"),
    seed: int = typer.Option(0, "--seed"),
    reference: str | None = typer.Option(None, "--reference", "-r"),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("cpu", "--device"),
    offline: bool = typer.Option(False, "--offline"),
    no_cache: bool = typer.Option(False, "--no-cache"),
) -> None:
    """Per-metric style table per folder, paired differences with CI, p-values and verdicts."""
    from genmetrics.comparison.compare import run_compare
    from genmetrics.comparison.render import (
        COMPARE_CSV_COLUMNS,
        compare_csv_rows,
        compare_sections,
        render_csv,
        render_json,
        render_markdown,
        write_report,
    )
    from genmetrics.errors import UserError
    from genmetrics.results.io import write_table

    if len(folders) < 2:
        raise UserError("compare needs BASELINE_DIR and at least one VARIANT_DIR")
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
    )
    sections = compare_sections(report)
    markdown = render_markdown(sections, f"comparison against {report.names[0]}")
    csv_text = render_csv(compare_csv_rows(report), COMPARE_CSV_COLUMNS)
    doc = report.to_dict()
    if out is not None:
        write_report(out, "compare", doc, csv_text, markdown)
        rows = [
            {"set": n, **r} for n, s in zip(report.names, report.sets, strict=True) for r in s.rows
        ]
        if rows:
            write_table(out / "per_image.csv", rows)
    emit(fmt, sections, markdown, csv_text, render_json(doc))
