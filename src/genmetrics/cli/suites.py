"""``genmetrics suites``: list the built-in prompt suites and export one."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.atomic import atomic_write_text, check_output_file
from genmetrics.errors import UserError
from genmetrics.suites import FORMATS, export_text, list_suites, load_suite, suite_description

app = typer.Typer(help="Prompt suites (built-in: hpdv2).", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List the built-in suites: name, number of prompts, styles."""
    for name in list_suites():
        suite = load_suite(name)
        counts = ", ".join(f"{style} ({n})" for style, n in suite.counts().items())
        typer.echo(f"{name}\t{len(suite)} prompts\t{counts}")
        description = suite_description(name)
        if description:
            typer.echo(f"\t{description}")


@app.command("export")
def export_command(
    name: str = typer.Argument(..., help="Built-in suite name or prompt file."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, json or csv."),
    out: Path | None = typer.Option(None, "--out", help="Output file (default: stdout)."),
) -> None:
    """Export a suite with fields id, style, index, prompt."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use --format {' or '.join(FORMATS)}")
    if out is not None:
        check_output_file(out)
    text = export_text(load_suite(name), fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        typer.echo(f"wrote {out}", err=True)
