"""Fidelity-to-the-baseline parts of a comparison document (from ``CompareReport.to_dict()``):

* the paired similarity table (per variant and metric: mean and 95% bootstrap CI per style,
  the metric's better direction as an arrow) and the worst pairs of each metric;
* each variant's distance to the baseline's images (``vs_baseline``);
* the ``--require`` checks;
* HTML: the pairs that changed most by a paired similarity metric (LPIPS, SSIM…), per style,
  baseline and variant side by side — read from the variant rows' ``similarity.METRIC``
  columns, so ``genmetrics report`` draws them again from a saved folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from genmetrics.results.numbers import format_number
from genmetrics.results.render.document import (
    GridItem,
    GridRow,
    ImageGrid,
    Note,
    Section,
    Table,
    count_cell,
    estimate_cell,
    number_cell,
    text_cell,
    verdict_cell,
)
from genmetrics.results.render.rows import row_style

__all__ = [
    "SIMILARITY_COLUMN",
    "fidelity_sections",
    "similarity_change_sections",
    "similarity_records",
]

SIMILARITY_COLUMN = "similarity.{}"
AVERAGE = "Average"


def _arrow(hib: Any) -> str:
    return "↑" if hib is None or bool(hib) else "↓"


def _short(options: Mapping[str, Any] | None) -> str:
    """``(alex, v0.1, native)`` / ``(vgg, v0.1, 256px)`` for LPIPS's recorded options,
    ``(ensemble)`` for DreamSim's."""
    if not options:
        return ""
    if "net" not in options:
        return " (" + ", ".join(str(v) for v in options.values()) + ")"
    parts = [str(options.get("net", "")), f"v{options.get('version', '')}"]
    resize = options.get("resize")
    parts.append("native" if resize in (None, "none") else f"{resize}px")
    return " (" + ", ".join(p for p in parts if p) + ")"


def _similarity_blocks(data: Mapping[str, Any], styles: Sequence[str], visuals: Any) -> list[Any]:
    similarity = data.get("similarity") or {}
    rows, worst = [], []
    for variant, sim in similarity.items():
        hib = sim.get("higher_is_better") or {}
        for m in sim.get("metrics") or []:
            cells = []
            for s in styles:
                summary = ((sim.get("styles") or {}).get(s) or {}).get(m) or {}
                lo, hi = (summary.get("ci95") or [None, None])[:2]
                cells.append(estimate_cell(summary.get("value"), None, lo, hi,
                                           empty=summary.get("value") is None))
            overall = ((sim.get("styles") or {}).get(AVERAGE) or {}).get(m) or {}
            label = f"{m} {_arrow(hib.get(m))}{_short(overall.get('options'))}"
            rows.append([text_cell(variant), text_cell(label), *cells])
            for rank, w in enumerate(overall.get("worst") or [], 1):
                worst.append([text_cell(variant), text_cell(m), count_cell(rank),
                              text_cell(w.get("id")), number_cell(w.get("value"))])
    blocks: list[Any] = [
        Table(["variant", "metric", *styles], rows,
              caption="mean per style (95% bootstrap CI of the mean in HTML); ↑ higher is "
                      "better (more similar), ↓ lower is better")
    ]
    if worst:
        blocks.append(Table(["variant", "worst by", "rank", "image", "value"], worst,
                            title="worst pairs", caption="the pairs furthest from the baseline "
                            "by each metric, over all styles"))
    if visuals is not None:
        blocks += visuals.similarity_bars(similarity, styles)
    return blocks


def _vs_baseline_section(data: Mapping[str, Any], baseline: str) -> Section | None:
    vs = data.get("vs_baseline") or {}
    if not vs:
        return None
    metrics = list(vs)
    variants = list(dict.fromkeys(v for e in vs.values() for v in (e.get("variants") or {})))
    rows = []
    for v in variants:
        cells = []
        for m in metrics:
            value = ((vs[m].get("variants") or {}).get(v) or {})
            cells.append(estimate_cell(value.get("value"), value.get("std")))
        rows.append([text_cell(v), *cells])
    columns = ["variant", *(f"{m} {_arrow(vs[m].get('higher_is_better'))}" for m in metrics)]
    caption = (f"each variant's images against {baseline}'s images as the reference set "
               "(the same pass and feature cache as the rest of the comparison)")
    return Section(f"distance to {baseline}'s images", [Table(columns, rows, caption=caption)],
                   anchor="vs-baseline")


def _requirements_section(data: Mapping[str, Any]) -> Section | None:
    req = data.get("requirements") or {}
    checks = req.get("checks") or []
    if not checks:
        return None
    rows = [
        [text_cell(c.get("requirement")), text_cell(c.get("variant")), number_cell(c.get("value")),
         verdict_cell("met" if c.get("met") else "not met"), text_cell(c.get("detail"))]
        for c in checks
    ]
    title = "requirements: all met" if req.get("passed") else "requirements: NOT met"
    return Section(title, [Table(["requirement", "variant", "value", "result", "detail"], rows)],
                   anchor="requirements")


def fidelity_sections(
    data: Mapping[str, Any], styles: Sequence[str], baseline: str, visuals: Any = None
) -> list[Section]:
    """The similarity, distance-to-baseline and requirement sections (those that apply)."""
    out = []
    if data.get("similarity"):
        out.append(Section(f"paired image similarity vs {baseline}",
                           _similarity_blocks(data, styles, visuals), anchor="similarity"))
    for section in (_vs_baseline_section(data, baseline), _requirements_section(data)):
        if section is not None:
            out.append(section)
    return out


def similarity_records(data: Mapping[str, Any], styles: Sequence[str], columns: Sequence[str]) -> list[dict[str, Any]]:
    """CSV rows of the paired similarity (``kind`` similarity) and distances to the baseline
    (``kind`` vs_baseline)."""
    out = []
    for variant, sim in (data.get("similarity") or {}).items():
        for s in styles:
            for m in sim.get("metrics") or []:
                summary = ((sim.get("styles") or {}).get(s) or {}).get(m) or {}
                lo, hi = (summary.get("ci95") or [None, None])[:2]
                row = dict.fromkeys(columns)
                row.update(metric=m, variant=variant, style=s, mean=summary.get("value"),
                           std=summary.get("std"), ci_low=lo, ci_high=hi, n=summary.get("n"),
                           kind="similarity")
                out.append(row)
    for m, entry in (data.get("vs_baseline") or {}).items():
        for variant, value in (entry.get("variants") or {}).items():
            ci = value.get("ci95") or [None, None]
            row = dict.fromkeys(columns)
            row.update(metric=f"{m}_vs_baseline", variant=variant, style=AVERAGE,
                       mean=value.get("value"), std=value.get("std"), ci_low=ci[0],
                       ci_high=ci[1], kind="vs_baseline")
            out.append(row)
    return out


def _item(visuals: Any, set_name: str, row: Mapping[str, Any] | None, scores) -> GridItem:
    if row is None:
        return GridItem(set_name, None, "image not in the table", scores)
    reader, reason = (None, "no image source") if visuals.images is None else visuals.images(set_name, dict(row))
    uri, why = visuals.thumbs.uri(f"{set_name}\0{row.get('id')}", reader) if reader else (None, reason)
    return GridItem(set_name, uri, why, scores, str(row.get("id", "")))


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def similarity_change_sections(
    visuals: Any,
    rows_by_set: Mapping[str, Sequence[dict[str, Any]]],
    baseline: str,
    variants: Sequence[str],
    metric: str,
    higher_is_better: bool,
    styles: Sequence[str],
) -> list[Section]:
    """Per variant and style, the ``visuals.top`` pairs furthest from the baseline by a paired
    similarity ``metric`` (highest LPIPS, lowest SSIM…), baseline left, variant right."""
    if visuals is None or visuals.top == 0 or baseline not in rows_by_set:
        return []
    column = SIMILARITY_COLUMN.format(metric)
    base = {str(r.get("id")): r for r in rows_by_set[baseline]}
    sections = []
    for variant in variants:
        scored = []
        for row in rows_by_set.get(variant) or []:
            value = _number(row.get(column))
            if value is not None and value not in (float("inf"), float("-inf")):
                scored.append((value if higher_is_better else -value, str(row.get("id")), value, row))
        if not scored:
            continue
        grids = []
        found = list(dict.fromkeys(row_style(t[3]) for t in scored))
        for style in [*[s for s in styles if s in found], *[s for s in found if s not in styles]]:
            picked = sorted((t for t in scored if row_style(t[3]) == style), key=lambda t: (t[0], t[1]))
            rows = []
            for _, image_id, value, v_row in picked[: visuals.top]:
                b_row = base.get(image_id)
                score = [(metric, format_number(value))]
                rows.append(GridRow(
                    str(v_row.get("prompt") or (b_row or {}).get("prompt") or image_id),
                    [_item(visuals, baseline, b_row, []), _item(visuals, variant, v_row, score)],
                    [("image", image_id), (metric, format_number(value))],
                    "worse",
                ))
            grids.append(ImageGrid(style, rows, f"the {len(rows)} pair(s) of style {style} "
                                               f"furthest from {baseline} by {metric}"))
        direction = "lowest" if higher_is_better else "highest"
        sections.append(Section(
            f"where {variant} differs most from {baseline}: {direction} {metric}",
            [Note(f"Per style, the images of {variant} whose {metric} against the {baseline} image "
                  f"of the same id is {direction}. Left: baseline, right: variant."), *grids],
            anchor=f"changes-{variant}",
            html_only=True,
        ))
    return sections
