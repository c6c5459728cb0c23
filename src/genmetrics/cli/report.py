"""``genmetrics report``: one self-contained HTML report of saved result folders."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import echo, size_text, warn_lines

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
    image_root: list[Path] = typer.Option(
        [], "--image-root",
        help="A folder whose images may be embedded as thumbnails (repeatable). Without it, "
        "only images inside the result folder are read: a result folder may come from anyone.",
    ),
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
    for root in image_root:
        if not root.is_dir():
            raise UserError(f"--image-root {root}: not a folder")
    thumbs = None
    lookups = []

    def visuals(lookup):
        nonlocal thumbs
        lookups.append(lookup)
        v = Visuals(lookup, top, thumbs)
        thumbs = v.thumbs
        return v

    docs = [load_folder(folder, visuals, image_root) for folder in folders]
    text = render_html(docs, title)
    atomic_write_text(out, text)
    refused = sum(lookup.roots.refused for lookup in lookups)
    if refused:
        warn_lines([
            f"{refused} image(s) were not found inside the result folder(s) or the --image-root "
            "folders and are shown as placeholders; pass --image-root FOLDER for the folders of "
            "the images you trust"
        ])
    echo(f"wrote {out} ({size_text(len(text.encode('utf-8')))})")
