"""``genmetrics pair``: PSNR / SSIM / MS-SSIM / LPIPS between two images or two matched folders."""

from __future__ import annotations

from pathlib import Path

import typer

from genmetrics.cli.common import OutputFormat, emit, warn_lines
from genmetrics.cli.pair_options import with_pair_options

app = typer.Typer()


@app.command("pair")
@with_pair_options
def pair_command(
    a: str = typer.Argument(..., help="An image, or a folder/archive of images."),
    b: str = typer.Argument(
        ..., help="The image (or folder) to compare with; folders match by relative path."
    ),
    metrics: str = typer.Option(
        "psnr,ssim,ms_ssim",
        "--metrics",
        "-m",
        help="psnr, ssim, ms_ssim (MS-SSIM needs ≥ 176×176), lpips, dreamsim (lower is better).",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Count images present on one side only instead of failing."
    ),
    fmt: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", help="table, json, markdown, csv or html."
    ),
    device: str = typer.Option("cpu", "--device", help="Where LPIPS runs: cpu, auto, cuda, cuda:N, mps."),
    offline: bool = typer.Option(False, "--offline", help="Never download weights."),
    pair_options: dict | None = None,
) -> None:
    """Paired full-reference similarity; JSON: {"metrics": {name: {value, std, ci95, n, worst,
    higher_is_better}}, "per_image": [...], "protocols": {...}}."""
    from genmetrics.comparison.pair_metrics import build_scorers, parse_pair_metrics
    from genmetrics.comparison.similarity import pair_similarity, single_pair, undefined_warnings
    from genmetrics.metrics.pair_options import check_applies
    from genmetrics.metrics.pair_options import pair_options as check_pair_options
    from genmetrics.results.render.build import pair_document
    from genmetrics.sources.items import is_image_name, items_from

    wanted = parse_pair_metrics(metrics)
    check_applies(pair_options, wanted, "--metrics")
    options = check_pair_options(pair_options, device=device, offline=offline or None)
    items_a, items_b = items_from(a), items_from(b)
    if all(Path(p).is_file() and is_image_name(p) for p in (a, b)):
        item_a, item_b = single_pair(items_a[0], items_b[0])
        items_a, items_b = [item_a], [item_b]
    scorers = build_scorers(wanted, options)  # networks load (weights checked) before any pair
    result = pair_similarity(items_a, items_b, wanted, allow_missing, names=(a, b), scorers=scorers)
    summary = result.summary()
    warn_lines(undefined_warnings(result))
    data = {
        "metrics": summary,
        "protocols": result.protocols,
        "per_image": result.rows,
        "counts": {
            "pairs": len(result.rows),
            "only_a": len(result.only_a),
            "only_b": len(result.only_b),
        },
        "only_a": result.only_a,
        "only_b": result.only_b,
    }
    doc = pair_document(data, a, b)
    if fmt is OutputFormat.html:
        doc.sections.append(_least_similar(result, items_a, items_b))
    emit(doc, fmt)


def _least_similar(result, items_a, items_b, top: int = 4):
    """HTML only: the pairs that differ most by the first metric, A and B side by side."""
    import math

    from genmetrics.results.numbers import format_number
    from genmetrics.results.render.document import GridItem, GridRow, ImageGrid, Section
    from genmetrics.results.render.images import Thumbnailer

    metric = result.metrics[0]
    readers_a = {i.id: i for i in items_a}
    readers_b = {i.id: i for i in items_b}
    thumbs = Thumbnailer()

    sign = 1.0 if result.higher_is_better(metric) else -1.0

    def key(row):
        v = row[metric]
        return math.inf if v is None or math.isnan(v) else sign * v

    rows = []
    for r in sorted(result.rows, key=key)[:top]:
        scores = [(m, format_number(r[m])) for m in result.metrics]
        items = []
        for side, readers, loc in (("A", readers_a, r["a"]), ("B", readers_b, r["b"])):
            item = readers.get(r["id"])
            uri, why = thumbs.uri(f"{side}\0{r['id']}", item.read if item else None)
            items.append(GridItem(side, uri, why, scores if side == "B" else [], str(loc)))
        rows.append(GridRow(str(r["id"]), items, [(m, v) for m, v in scores], "worse"))
    grid = ImageGrid(f"the {len(rows)} least similar pair(s) by {metric}", rows)
    return Section("least similar pairs", [grid], anchor="pairs")
