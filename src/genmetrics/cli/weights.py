"""``genmetrics weights list|download|import|verify``."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import echo

app = typer.Typer(help="Manage pinned model weights in the local cache.", no_args_is_help=True)


@app.command("list")
def list_weights() -> None:
    """Show every known weights file, its source and whether it is cached."""
    from rich.console import Console
    from rich.table import Table

    from genmetrics.weights.store import weight_specs

    table = Table(title="weights")
    for col in ("name", "cached", "file", "source", "sha256"):
        table.add_column(col)
    for name, spec in sorted(weight_specs().items()):
        cached = "yes" if spec.cached_path().exists() else "no"
        table.add_row(name, cached, spec.filename, spec.origin, spec.sha256[:16] + "…")
    Console().print(table)


@app.command("download")
def download(names: list[str] = typer.Argument(..., help="Weights names (see `weights list`).")) -> None:
    """Download (and convert) weights into the cache."""
    from genmetrics.weights.store import ensure_weights, get_weight_spec

    for name in names:
        path = ensure_weights(get_weight_spec(name), offline=False)
        echo(f"{name}: {path}")


@app.command("import")
def import_(
    name: str = typer.Argument(..., help="Weights name, e.g. inception."),
    path: Path = typer.Argument(..., help="A file obtained elsewhere (verified by sha256)."),
) -> None:
    """Import a weights file downloaded elsewhere (any known published form)."""
    from genmetrics.weights.store import get_weight_spec, import_weights

    target = import_weights(get_weight_spec(name), path)
    echo(f"{name}: imported {path} -> {target}")


@app.command("verify")
def verify(names: list[str] = typer.Argument(None, help="Default: every cached file.")) -> None:
    """Re-hash cached weights against their pinned sha256."""
    from genmetrics.weights.store import get_weight_spec, verify_weights, weight_specs

    specs = [get_weight_spec(n) for n in names] if names else [
        s for s in weight_specs().values() if s.cached_path().exists()
    ]
    bad = 0
    for spec in specs:
        ok, msg = verify_weights(spec)
        bad += not ok
        echo(f"{spec.name}: {'ok' if ok else 'FAILED'} {msg}")
    if bad:
        raise typer.Exit(1)
