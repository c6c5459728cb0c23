"""``genmetrics pair``: PSNR / SSIM / MS-SSIM between two images or two matched folders."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from genmetrics.cli.common import echo, warn_lines

app = typer.Typer()


class PairFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("pair")
def pair_command(
    a: str = typer.Argument(..., help="An image, or a folder/archive of images."),
    b: str = typer.Argument(
        ..., help="The image (or folder) to compare with; folders match by relative path."
    ),
    metrics: str = typer.Option(
        "psnr,ssim,ms_ssim",
        "--metrics",
        "-m",
        help="psnr, ssim, ms_ssim (MS-SSIM needs ≥ 176×176).",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Count images present on one side only instead of failing."
    ),
    fmt: PairFormat = typer.Option(PairFormat.table, "--format", "-f"),
) -> None:
    """Paired full-reference similarity; JSON: {"metrics": {name: {value, std, n}}, "per_image": [...]}."""
    from genmetrics.comparison.render import fmt as fmt_num
    from genmetrics.comparison.render import render_json
    from genmetrics.comparison.similarity import pair_similarity, single_pair, undefined_warnings
    from genmetrics.sources.items import is_image_name, items_from

    items_a, items_b = items_from(a), items_from(b)
    if all(Path(p).is_file() and is_image_name(p) for p in (a, b)):
        item_a, item_b = single_pair(items_a[0], items_b[0])
        items_a, items_b = [item_a], [item_b]
    result = pair_similarity(items_a, items_b, metrics, allow_missing, names=(a, b))
    summary = result.summary()
    warn_lines(undefined_warnings(result))
    if fmt is PairFormat.json:
        doc = {
            "metrics": summary,
            "per_image": result.rows,
            "counts": {
                "pairs": len(result.rows),
                "only_a": len(result.only_a),
                "only_b": len(result.only_b),
            },
            "only_a": result.only_a,
            "only_b": result.only_b,
        }
        echo(render_json(doc))
        return
    from rich.console import Console
    from rich.table import Table

    caption = f"{len(result.rows)} pair(s)"
    if result.only_a or result.only_b:
        caption += f"; {len(result.only_a)} only in A, {len(result.only_b)} only in B"
    table = Table(title=f"{a} vs {b}", caption=caption)
    for col in ("metric", "mean", "std", "n"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, s in summary.items():
        table.add_row(name, fmt_num(s["value"]), fmt_num(s["std"]), str(s["n"]))
    Console().print(table)
