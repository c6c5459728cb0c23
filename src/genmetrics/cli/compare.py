"""``genmetrics compare``: variants against a baseline, per style, with paired statistics."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.benchmark import suite_option
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
from genmetrics.cli.pair_options import with_pair_options

app = typer.Typer()


@app.command("compare")
@with_metric_options
@with_pair_options
def compare_command(
    folders: list[str] = typer.Argument(
        ..., help="BASELINE_DIR VARIANT_DIR… (same prompts and layout)."
    ),
    names: str | None = typer.Option(
        None, "--names", help="Comma-separated names, baseline first (default: folder names)."
    ),
    metrics: str | None = typer.Option(
        None, "--metrics", "-m",
        help="Metrics scored on each folder (default: hps,clip_score,aesthetic, unless "
        "--similarity or --vs-baseline is given).",
    ),
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
        None, "--similarity",
        help="Paired image similarity vs the baseline: psnr,ssim,ms_ssim,lpips.",
    ),
    vs_baseline: str | None = typer.Option(
        None, "--vs-baseline",
        help="Set metrics of each variant against the baseline's images, e.g. fid,kid,fd_dinov2.",
    ),
    require: list[str] | None = typer.Option(
        None, "--require",
        help="CI gate, repeatable: METRIC[@STYLE]>=|<=|>|<NUMBER or METRIC[@STYLE]:not-worse "
        "(e.g. 'ssim>=0.89', 'lpips<=0.1', 'hps:not-worse'); exit 1 when one is not met.",
    ),
    rank_changes_by: str | None = typer.Option(
        None, "--rank-changes-by",
        help="Metric of the HTML report's largest-change cards: a per-image metric (default: "
        "the first) or a --similarity metric such as lpips (pairs furthest from the baseline).",
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write the --require checks as JUnit XML to this file."
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
    reference: str | None = typer.Option(
        None, "--reference", "-r",
        help="Real images (or a statistics .npz) for the --metrics that compare with a "
        "reference set, e.g. fid.",
    ),
    batch_size: int | None = batch_size_option(),
    device: str = device_option(),
    dtype: str = dtype_option(),
    allow_tf32: bool = allow_tf32_option(),
    offline: bool = offline_option(),
    no_cache: bool = no_cache_option(),
    metric_options: dict | None = None,
    pair_options: dict | None = None,
) -> None:
    """Per-metric style table per folder, paired differences with CI, p-values and verdicts;
    paired similarity to the baseline; distances to the baseline's images; a CI gate."""
    from genmetrics.atomic import atomic_write_text, check_output_file, check_output_folder
    from genmetrics.comparison.compare import run_compare
    from genmetrics.comparison.render import compare_document, compare_rows, write_report
    from genmetrics.errors import UserError

    if len(folders) < 2:
        raise UserError("compare needs BASELINE_DIR and at least one VARIANT_DIR")
    if out is not None:
        check_output_folder(out)
    if junit is not None:
        if not require:
            raise UserError("--junit writes the --require checks; add at least one --require")
        check_output_file(junit, "--junit")
    report = run_compare(
        folders[0],
        folders[1:],
        metrics,
        suite_option(suite),
        names=names.split(",") if names else None,
        margin=margin,
        margins=margins,
        similarity=similarity,
        similarity_options=pair_options,
        vs_baseline=vs_baseline,
        require=require,
        rank_changes_by=rank_changes_by,
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
    warn_lines(report.warnings)  # e.g. N < D for a per-style FID: one line per metric and kind
    html = fmt is OutputFormat.html or out is not None
    doc = compare_document(report, html=html, command=command_manifest())
    if out is not None:
        rows = [{"set": n, **r} for n, rs in compare_rows(report).items() for r in rs]
        write_report(out, "compare", doc, rows)
    if junit is not None:
        from genmetrics.comparison.gate import junit_xml

        atomic_write_text(junit, junit_xml(report.requirements, report.names[0]))
    emit(doc, fmt, out)
    _gate(report)


def _gate(report) -> None:
    """One stderr line per unmet requirement and exit code 1; a summary line when all hold."""
    import sys

    if not report.requirements:
        return
    failed = [o for o in report.requirements if not o.met]
    for outcome in failed:
        sys.stderr.write(outcome.line() + "\n")
    if failed:
        raise typer.Exit(code=1)
    sys.stderr.write(f"all {len(report.requirements)} requirement check(s) met\n")
