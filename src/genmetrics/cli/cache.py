"""``genmetrics cache info|check|clear``: inspect, verify and rebuild the feature cache."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genmetrics.cli.common import echo
from genmetrics.errors import UserError

app = typer.Typer(
    help="Inspect, verify and clear the feature cache.", no_args_is_help=True
)

_CACHE_DIR_HELP = "Feature cache folder (default $GENMETRICS_HOME)."


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _located(cache_dir: Path | None) -> tuple[Path, list[Path]]:
    from genmetrics.features.cache import cache_files, default_cache_path

    path = default_cache_path(cache_dir)
    return path, cache_files(path)


def _total(files: list[Path]) -> int:
    return sum(p.stat().st_size for p in files if p.is_file())


@app.command("info")
def info(cache_dir: Path | None = typer.Option(None, "--cache-dir", help=_CACHE_DIR_HELP)) -> None:
    """Where the cache is, its size, and how many rows each backbone key has."""
    from genmetrics.features.cache import SCHEMA_VERSION, FeatureCache
    from genmetrics.features.set_stats import STATE_SUFFIX

    path, files = _located(cache_dir)
    if path not in files:
        echo(f"no feature cache at {path}")
        return
    echo(f"path: {path}")
    echo(f"size: {_size(_total(files))}")
    with FeatureCache(path, readonly=True) as cache:
        echo(f"layout version: {cache.version}" + (
            "" if cache.version == SCHEMA_VERSION
            else " (older, without checksums: its rows are dropped on next use)"))
        summary = cache.summary()
        backbones: dict = summary["backbones"]  # type: ignore[assignment]
        sets = {k: (cache.contents(k), v[1]) for k, v in backbones.items() if k.endswith(STATE_SUFFIX)}
    echo(f"feature rows: {sum(n for k, (n, _) in backbones.items() if k not in sets)}")
    for key, (rows, nbytes) in backbones.items():
        if key not in sets:
            echo(f"  {key}: {rows} rows, {_size(nbytes)}")
    if sets:
        echo("statistics of whole image sets (a warm FID run reads these instead of the rows):")
        for key, (count, nbytes) in sets.items():
            echo(f"  {key[: -len(STATE_SUFFIX)]}: {count} sets, {_size(nbytes)}")
    echo(f"derived values: {summary['derived']}")
    echo(f"remembered file hashes: {summary['file_hashes']}")


@app.command("check")
def check(
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=_CACHE_DIR_HELP),
    repair: bool = typer.Option(False, "--repair", help="Delete the rows that fail their check."),
) -> None:
    """Verify the database structure and every row's checksum; exit 1 if anything is bad."""
    from genmetrics.features.cache import (
        SCHEMA_VERSION,
        CacheCorruptError,
        FeatureCache,
        cache_command,
    )

    path, files = _located(cache_dir)
    if path not in files:
        echo(f"no feature cache at {path}")
        return
    try:
        with FeatureCache(path, readonly=not repair) as cache:
            if cache.version != SCHEMA_VERSION:
                echo(f"{path}: layout version {cache.version} has no checksums to verify; its "
                     "rows are dropped and recomputed on next use")
                return
            report = cache.check(repair=repair)
    except CacheCorruptError as exc:
        echo(f"damaged: {exc}")
        raise typer.Exit(1) from None
    echo(f"path: {path}")
    echo("integrity: " + ("ok" if not report.integrity else f"{len(report.integrity)} problem(s)"))
    for line in report.integrity[:20]:
        echo(f"  {line}")
    for table, n in report.checked.items():
        echo(f"{table}: {n} checked, {report.bad.get(table, 0)} bad")
    if report.ok:
        echo("ok")
        return
    if report.repaired:
        echo(f"repaired: deleted {report.repaired} bad row(s); they are recomputed on next use")
    if report.integrity:
        echo(f"the file's structure is damaged: run {cache_command(path, 'clear')} to rebuild it")
    elif not report.repaired:
        echo(f"run {cache_command(path, 'check --repair')} to delete the bad rows, or "
             f"{cache_command(path, 'clear')} to rebuild the cache")
    if report.integrity or not report.repaired:
        raise typer.Exit(1)


@app.command("clear")
def clear(
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=_CACHE_DIR_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete the cache (and SQLite's -wal/-shm files), even a corrupt one; features are
    recomputed on the next run."""
    path, files = _located(cache_dir)
    if not files:
        echo(f"no feature cache at {path}")
        return
    size = _size(_total(files))
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"pass --yes to delete the feature cache {path} without a prompt")
        if not typer.confirm(f"delete the feature cache {path} ({size})?"):
            echo("left as is")
            raise typer.Exit(1)
    for p in files:
        try:
            p.unlink()
        except OSError as exc:
            raise UserError(f"cannot delete {p} ({exc.strerror or exc})") from None
    echo(f"deleted {path} ({size}); features are recomputed on the next run")
