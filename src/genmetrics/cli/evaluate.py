"""``genmetrics evaluate`` and ``genmetrics stats``."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import (
    REPORT_HTML,
    OutputFormat,
    allow_tf32_option,
    batch_size_option,
    cache_dir_option,
    command_manifest,
    device_option,
    dtype_option,
    echo,
    emit,
    no_cache_option,
    offline_option,
    ray_option,
    strict_option,
    warn_lines,
    workers_option,
    write_html,
)
from genmetrics.cli.metric_options import ALL, with_metric_options
from genmetrics.protocols.resize import RESIZE_PROTOCOLS

PROTOCOL_HELP = "Resize protocol: clean (clean-fid), tf1 (TTUR, torch-fidelity) or pytorch-fid."
FORMAT_HELP = "How to print the result (html: a self-contained report)."


def _check_protocol(value: str) -> str:
    if value not in RESIZE_PROTOCOLS:
        raise typer.BadParameter(f"choose one of {', '.join(RESIZE_PROTOCOLS)}")
    return value


@with_metric_options(show=ALL)
def evaluate_command(
    generated: str = typer.Argument(..., help="Generated images: folder, .zip/.tar(.gz), or .txt list."),
    reference: str | None = typer.Option(None, "--reference", "-r", help="Real images, or an .npz of reference statistics (genmetrics stats)."),
    metrics: str = typer.Option("fid", "--metrics", "-m", help="Comma-separated metric names (see `genmetrics metrics`)."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol, help=PROTOCOL_HELP),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write summary.json, per-image tables and report.html here."),
    prompts: str | None = typer.Option(None, "--prompts", help="Prompt manifest (.jsonl/.csv/.json), suite name (hpdv2) or suite file; default: sidecar .txt files."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Skip (and count) images without prompts and prompts without images."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw (KID subsets, IS splits, bootstrap CIs…)."),
    batch_size: int | None = batch_size_option(),
    device: str = device_option(),
    dtype: str = dtype_option(),
    allow_tf32: bool = allow_tf32_option(),
    workers: int | None = workers_option(),
    offline: bool = offline_option(),
    strict: bool = strict_option(),
    no_cache: bool = no_cache_option(),
    cache_dir: Path | None = cache_dir_option(),
    ray: str | None = ray_option(),
    metric_options: dict | None = None,
) -> None:
    """Compute metrics for a set of generated images in one pass."""
    from genmetrics.atomic import check_output_folder
    from genmetrics.pipeline.evaluate import evaluate
    from genmetrics.results.report import document

    if out is not None:
        check_output_folder(out)

    result = evaluate(
        generated, reference, metrics, protocol=protocol, batch_size=batch_size, device=device,
        workers=workers, seed=seed, offline=offline or None, strict=strict, cache=not no_cache,
        cache_dir=cache_dir, progress=True, prompts=prompts, allow_missing=allow_missing,
        dtype=dtype, allow_tf32=allow_tf32, ray=ray, **(metric_options or {}),
    )
    if result is None:  # another rank of a torchrun job: rank 0 reports
        return
    result.manifest.update(command_manifest())
    html = fmt is OutputFormat.html or out is not None
    doc = document(result, html=html, source=str(generated))
    if out is not None:
        result.save(out)
        write_html(out / REPORT_HTML, doc)
    emit(doc, fmt, out)
    warn_lines(result.warnings)


def stats_command(
    images: str = typer.Argument(..., help="Reference images (folder, archive or list)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz (mu, sigma, n; pytorch-fid compatible)."),
    features: str = typer.Option("inception", "--features", help="Comma-separated feature spaces (inception, dinov2-vit-l14, clip-vit-l-14…; see `genmetrics metrics`). inception also stores sFID's spatial statistics."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol, help=PROTOCOL_HELP),
    batch_size: int | None = batch_size_option(),
    device: str = device_option(),
    dtype: str = dtype_option(),
    allow_tf32: bool = allow_tf32_option(),
    workers: int | None = workers_option(),
    offline: bool = offline_option(),
    strict: bool = strict_option(),
    no_cache: bool = no_cache_option(),
    cache_dir: Path | None = cache_dir_option(),
    ray: str | None = ray_option(),
) -> None:
    """Save reference statistics (any feature space) of a set of images to an .npz for reuse."""
    from genmetrics.atomic import check_output_file
    from genmetrics.pipeline.reference import compute_reference_stats

    check_output_file(out)
    made = compute_reference_stats(
        images, out, features=features, protocol=protocol, batch_size=batch_size, device=device,
        dtype=dtype, allow_tf32=allow_tf32, workers=workers, offline=offline or None,
        strict=strict, progress=True, cache=not no_cache, cache_dir=cache_dir, ray=ray,
    )
    if made is None:  # another rank of a torchrun job
        return
    path, n = made
    echo(f"wrote {path} ({n} images, features {features}, protocol {protocol})")
