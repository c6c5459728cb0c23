"""``genmetrics weights list|download|import|verify``."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import echo

app = typer.Typer(help="Manage pinned model weights in the local cache.", no_args_is_help=True)


@app.command("list")
def list_weights() -> None:
    """Show every known weights file: what it is, whether it is cached, its source and sha256.

    Nothing is cut: long values wrap on a terminal and stay whole when piped."""
    from genmetrics.cli.listing import item_lines, wrap_width
    from genmetrics.weights.store import outputs_label, read_record, weight_specs

    width = wrap_width()
    lines: list[str] = []
    for name, spec in sorted(weight_specs().items()):
        path = spec.cached_path()
        record = read_record(path) if path.exists() else None
        if not path.exists():
            cached = f"no (genmetrics weights download {name})"
        else:
            provides = outputs_label(spec, record)
            cached = "yes" if record else "yes (no install record)"
            cached += f", provides {provides}" if provides else ""
        lines.append(f"{name}: {spec.description}" if spec.description else name)
        for label, value in (("cached", cached), ("file", str(path)), ("source", spec.origin),
                             ("sha256", spec.sha256), ("license", spec.license)):
            if value:
                lines += item_lines(f"{label}:", [value], 12, width)
        lines.append("")
    echo("\n".join(lines).rstrip("\n") if lines else "no weights registered")


def _describe(spec, record: dict) -> str:
    from genmetrics.weights.store import outputs_label

    provides = outputs_label(spec, record)
    form = record.get("source_form", "unknown form")
    return f"{form}, {provides}" if provides else form


@app.command("download")
def download(names: list[str] = typer.Argument(..., help="Weights names (see `weights list`).")) -> None:
    """Download (and convert) weights into the cache; replaces a cached file that fails its
    check or provides fewer outputs (e.g. a pool3-only Inception)."""
    from genmetrics.weights.store import download_weights, get_weight_spec

    for name in names:
        spec = get_weight_spec(name)
        result = download_weights(spec, offline=False)
        what = _describe(spec, result.record)
        if result.action == "cached":
            echo(f"{name}: already cached and verified ({what}): {result.path}")
        else:
            echo(f"{name}: {result.action} {result.path} ({what})")


@app.command("import")
def import_(
    name: str = typer.Argument(..., help="Weights name, e.g. inception."),
    path: Path = typer.Argument(..., help="A file obtained elsewhere (verified by sha256)."),
    force: bool = typer.Option(
        False, "--force", help="Replace cached weights even when they provide more outputs."
    ),
) -> None:
    """Import a weights file downloaded elsewhere (any known published form)."""
    from genmetrics.weights.store import get_weight_spec, import_weights

    spec = get_weight_spec(name)
    result = import_weights(spec, path, force=force)
    what = _describe(spec, result.record)
    if result.action == "kept":
        echo(
            f"{name}: kept the cached weights ({what}) at {result.path}: {path} provides fewer "
            "outputs; pass --force to replace them"
        )
    else:
        echo(f"{name}: imported {path} -> {result.path} ({what})")


@app.command("verify")
def verify(names: list[str] = typer.Argument(None, help="Default: every cached file.")) -> None:
    """Re-hash cached weights against the sha256 recorded at install (and the pin). Exit 1 on
    any mismatch; the record is never rewritten."""
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
