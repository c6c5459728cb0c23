"""``genmetrics evaluate`` and ``genmetrics stats``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genmetrics.cli.common import OutputFormat, echo
from genmetrics.protocols.resize import RESIZE_PROTOCOLS


def _check_protocol(value: str) -> str:
    if value not in RESIZE_PROTOCOLS:
        raise typer.BadParameter(f"choose one of {', '.join(RESIZE_PROTOCOLS)}")
    return value


def evaluate_command(
    generated: str = typer.Argument(..., help="Generated images: folder, .zip/.tar(.gz), or .txt list."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r", help="Real images, or an .npz of FID statistics."),
    metrics: str = typer.Option("fid", "--metrics", "-m", help="Comma-separated metric names (see `genmetrics metrics`)."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol, help="Resize protocol: clean, tf1, pytorch-fid."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write summary.json and per-image tables here."),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("cpu", "--device"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Decode threads (default: CPU count, max 8)."),
    seed: int = typer.Option(0, "--seed"),
    offline: bool = typer.Option(False, "--offline", help="Never download weights."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first unreadable image instead of skipping it."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the feature cache."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache folder (default $GENMETRICS_HOME)."),
    kid_subsets: int = typer.Option(100, "--kid-subsets"),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size"),
    is_splits: int = typer.Option(10, "--is-splits"),
) -> None:
    """Compute metrics for a set of generated images in one pass."""
    from genmetrics.evaluation import evaluate
    from genmetrics.results.report import render

    result = evaluate(
        generated, reference, metrics, protocol=protocol, batch_size=batch_size, device=device,
        workers=workers, seed=seed, offline=offline or None, strict=strict, cache=not no_cache,
        cache_dir=cache_dir, progress=True, kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size, is_splits=is_splits,
    )
    if out is not None:
        result.save(out)
    text = render(result, fmt.value)
    if text is not None:
        echo(text)


def stats_command(
    images: str = typer.Argument(..., help="Reference images (folder, archive or list)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz (mu, sigma, n; pytorch-fid compatible)."),
    protocol: str = typer.Option("clean", "--protocol", callback=_check_protocol),
    batch_size: int = typer.Option(32, "--batch-size"),
    device: str = typer.Option("cpu", "--device"),
    workers: Optional[int] = typer.Option(None, "--workers"),
    offline: bool = typer.Option(False, "--offline"),
    strict: bool = typer.Option(False, "--strict"),
) -> None:
    """Save FID reference statistics of a set of images to an .npz for reuse."""
    from genmetrics.evaluation import compute_reference_stats

    path, n = compute_reference_stats(
        images, out, protocol=protocol, batch_size=batch_size, device=device, workers=workers,
        offline=offline or None, strict=strict, progress=True,
    )
    echo(f"wrote {path} ({n} images, protocol {protocol})")
