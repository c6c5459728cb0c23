"""``genmetrics report``: one self-contained HTML report of saved result folders."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import echo, size_text

app = typer.Typer()


@app.command("report")
def report_command(
    folders: list[Path] = typer.Argument(
        ..., help="Folders written by `evaluate`, `benchmark` or `compare` with --out."
    ),
    out: Path = typer.Option(
        Path("report.html"), "--out", "-o", help="The HTML file to write (one file, no assets)."
    ),
    top: int = typer.Option(
        4, "--top", min=0, help="Images per grid: largest drops/gains, best/worst (0: no images)."
    ),
    title: str | None = typer.Option(None, "--title", help="Page title (default: from the results)."),
) -> None:
    """Write one HTML file (tables, plots, image grids, manifest) that opens offline."""
    from genmetrics.atomic import atomic_write_text, check_output_file
    from genmetrics.errors import UserError
    from genmetrics.results.render.html import render_html
    from genmetrics.results.render.load import load_folder
    from genmetrics.results.render.visuals import Visuals

    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {out}: name an .html file, e.g. {out.with_suffix('.html')}")
    check_output_file(out)
    thumbs = None

    def visuals(lookup):
        nonlocal thumbs
        v = Visuals(lookup, top, thumbs)
        thumbs = v.thumbs
        return v

    docs = [load_folder(folder, visuals) for folder in folders]
    text = render_html(docs, title)
    atomic_write_text(out, text)
    echo(f"wrote {out} ({size_text(len(text.encode('utf-8')))})")
