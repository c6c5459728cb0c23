"""``genmetrics evaluate`` and ``genmetrics stats``."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import OutputFormat, echo, warn_lines
from genmetrics.protocols.resize import RESIZE_PROTOCOLS


def _check_protocol(value: str) -> str:
    if value not in RESIZE_PROTOCOLS:
        raise typer.BadParameter(f"choose one of {', '.join(RESIZE_PROTOCOLS)}")
    return value


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
    kid_subsets: int = typer.Option(100, "--kid-subsets"),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size"),
    is_splits: int = typer.Option(10, "--is-splits"),
    prompts: str | None = typer.Option(None, "--prompts", help="Prompt manifest (.jsonl/.csv/.json), suite name (hpdv2) or suite file; default: sidecar .txt files."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Skip (and count) images without prompts and prompts without images."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, bf16 or fp16 for CLIP-family models (Inception: fp32)."),
    clip_model: str = typer.Option("clip-vit-l-14", "--clip-model", help="Backbone for clip_score / directional / object metrics."),
    clip_score_convention: str = typer.Option("torchmetrics", "--clip-score-convention", help="torchmetrics (100·cos, mean clamped at 0), hessel (2.5·max(cos,0)), cosine."),
    hps_version: str = typer.Option("v2.1", "--hps-version", help="v2.0 or v2.1."),
    aesthetic_head: str = typer.Option("improved", "--aesthetic-head", help="improved (MLP, ViT-L/14) or v1 (linear)."),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated label set for object_precision/recall."),
) -> None:
    """Compute metrics for a set of generated images in one pass."""
    from genmetrics.atomic import check_output_folder
    from genmetrics.evaluation import evaluate
    from genmetrics.results.report import render

    if out is not None:
        check_output_folder(out)

    result = evaluate(
        generated, reference, metrics, protocol=protocol, batch_size=batch_size, device=device,
        workers=workers, seed=seed, offline=offline or None, strict=strict, cache=not no_cache,
        cache_dir=cache_dir, progress=True, kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size, is_splits=is_splits, prompts=prompts,
        allow_missing=allow_missing, dtype=dtype, clip_model=clip_model,
        clip_score_convention=clip_score_convention, hps_version=hps_version,
        aesthetic_head=aesthetic_head,
        labels=[x.strip() for x in labels.split(",") if x.strip()] if labels else None,
    )
    if out is not None:
        result.save(out)
    text = render(result, fmt.value)
    if text is not None:
        echo(text)
    warn_lines(result.warnings)


def stats_command(
    images: str = typer.Argument(..., help="Reference images (folder, archive or list)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz (mu, sigma, n; pytorch-fid compatible)."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    workers: int | None = typer.Option(None, "--workers"),
    offline: bool = typer.Option(False, "--offline"),
    strict: bool = typer.Option(False, "--strict"),
) -> None:
    """Save FID reference statistics of a set of images to an .npz for reuse."""
    from genmetrics.atomic import check_output_file
    from genmetrics.evaluation import compute_reference_stats

    check_output_file(out)

    path, n = compute_reference_stats(
        images, out, protocol=protocol, batch_size=batch_size, device=device, workers=workers,
        offline=offline or None, strict=strict, progress=True,
    )
    echo(f"wrote {path} ({n} images, protocol {protocol})")
