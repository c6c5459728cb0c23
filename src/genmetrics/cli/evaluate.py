"""``genmetrics evaluate`` and ``genmetrics stats``."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import (
    REPORT_HTML,
    OutputFormat,
    command_manifest,
    echo,
    emit,
    warn_lines,
    write_html,
)
from genmetrics.cli.metric_options import with_metric_options
from genmetrics.protocols.resize import RESIZE_PROTOCOLS


def _check_protocol(value: str) -> str:
    if value not in RESIZE_PROTOCOLS:
        raise typer.BadParameter(f"choose one of {', '.join(RESIZE_PROTOCOLS)}")
    return value


@with_metric_options
def evaluate_command(
    generated: str = typer.Argument(..., help="Generated images: folder, .zip/.tar(.gz), or .txt list."),
    reference: str | None = typer.Option(None, "--reference", "-r", help="Real images, or an .npz of FID statistics."),
    metrics: str = typer.Option("fid", "--metrics", "-m", help="Comma-separated metric names (see `genmetrics metrics`)."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol, help="Resize protocol: clean, tf1, pytorch-fid."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write summary.json and per-image tables here."),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda, cuda:N, mps."),
    workers: int | None = typer.Option(None, "--workers", help="Decode threads (default: CPU count, max 8)."),
    seed: int = typer.Option(0, "--seed"),
    offline: bool = typer.Option(False, "--offline", help="Never download weights."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first unreadable image instead of skipping it."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache folder (default $GENMETRICS_HOME)."),
    prompts: str | None = typer.Option(None, "--prompts", help="Prompt manifest (.jsonl/.csv/.json), suite name (hpdv2) or suite file; default: sidecar .txt files."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Skip (and count) images without prompts and prompts without images."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, bf16 or fp16 for CLIP-family models (Inception: fp32)."),
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS", help="Extract on a Ray cluster: 'local' starts one here, 'auto' joins the running one, or ray://HOST:PORT (needs genmetrics[ray]). Under torchrun, ranks shard the images by themselves."),
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
        dtype=dtype, ray=ray, **(metric_options or {}),
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
    features: str = typer.Option("inception", "--features", help="Comma-separated feature spaces (inception, dinov2-vit-l14, clip-vit-l-14…; see evaluate --help). inception also stores sFID's spatial statistics."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, bf16 or fp16 for CLIP-family and DINOv2 models (Inception: fp32)."),
    workers: int | None = typer.Option(None, "--workers"),
    offline: bool = typer.Option(False, "--offline"),
    strict: bool = typer.Option(False, "--strict"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache folder (default $GENMETRICS_HOME)."),
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS", help="Extract on a Ray cluster (see evaluate --help)."),
) -> None:
    """Save reference statistics (any feature space) of a set of images to an .npz for reuse."""
    from genmetrics.atomic import check_output_file
    from genmetrics.pipeline.reference import compute_reference_stats

    check_output_file(out)
    made = compute_reference_stats(
        images, out, features=features, protocol=protocol, batch_size=batch_size, device=device,
        dtype=dtype, workers=workers, offline=offline or None, strict=strict, progress=True,
        cache=not no_cache, cache_dir=cache_dir, ray=ray,
    )
    if made is None:  # another rank of a torchrun job
        return
    path, n = made
    echo(f"wrote {path} ({n} images, features {features}, protocol {protocol})")
