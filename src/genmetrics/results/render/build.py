"""Fill a :class:`~genmetrics.results.render.document.Document` from a command's result.

Every builder works from the result's JSON object (what ``--format json`` prints and
``--out`` saves, with non-finite numbers as floats) and, for the HTML detail, from the
per-image rows. So ``evaluate``/``benchmark``/``compare``/``pair`` and ``genmetrics report``
(which reads saved folders back) make the same document from the same numbers.

``visuals`` (an :class:`~genmetrics.results.render.visuals.Visuals`, HTML only) adds the
plots and image grids; without it the document holds the tables the text formats show.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from genmetrics.results.numbers import format_number
from genmetrics.results.render import fidelity
from genmetrics.results.render.document import (
    Cell,
    Document,
    Headline,
    Note,
    Records,
    Section,
    Table,
    ci_cell,
    count_cell,
    estimate_cell,
    number_cell,
    p_cell,
    text_cell,
    verdict_cell,
)
from genmetrics.results.render.rows import metric_columns

__all__ = [
    "AVERAGE",
    "BENCHMARK_CSV_COLUMNS",
    "COMPARE_CSV_COLUMNS",
    "EVALUATE_CSV_COLUMNS",
    "PAIR_CSV_COLUMNS",
    "PER_IMAGE_NOTE",
    "SET_LEVEL_NOTE",
    "benchmark_document",
    "compare_document",
    "evaluation_document",
    "pair_document",
]

AVERAGE = "Average"
SET_LEVEL_NOTE = (
    "set-level metric: each style's value is computed on that style's images; Average = mean "
    "of the style values (as in the HPS v2 paper), not the value on all images pooled (in the "
    "JSON as all_images)"
)
PER_IMAGE_NOTE = "Average = mean of all prompt scores of all styles"
COMPARE_CSV_COLUMNS = (
    "metric",
    "variant",
    "style",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "verdict",
    "p_value_wilcoxon",
    "n",
    "kind",
)
BENCHMARK_CSV_COLUMNS = (
    "metric",
    "style",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "n_prompts",
    "n_images",
    "missing_prompts",
    "method",
)
EVALUATE_CSV_COLUMNS = ("metric", "value", "std", "ci_low", "ci_high")
PAIR_CSV_COLUMNS = ("metric", "value", "std", "n")


def _ci(pair: Any) -> tuple[float | None, float | None]:
    if not pair:
        return None, None
    return pair[0], pair[1]


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _estimate(cell: Mapping[str, Any]) -> Cell:
    lo, hi = _ci(cell.get("ci95"))
    empty = cell.get("n_images", 1) == 0 and _nan(cell.get("mean"))
    mean = cell.get("mean")
    return estimate_cell(float("nan") if mean is None else mean, cell.get("std"), lo, hi, empty)


def _by_style(cells: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(c["style"]): c for c in cells}


def _command_manifest(data: Mapping[str, Any]) -> dict[str, Any] | None:
    manifest = data.get("manifest")
    return dict(manifest) if isinstance(manifest, Mapping) else None


# ---------------------------------------------------------------- evaluate


def _counts_line(data: Mapping[str, Any]) -> str:
    c = data.get("counts") or {}
    parts = [f"generated {c.get('generated')}"]
    if c.get("reference") is not None:
        parts.append(f"reference {c.get('reference')}")
    skipped = (c.get("generated_skipped") or 0) + (c.get("reference_skipped") or 0)
    if skipped:
        parts.append(f"skipped {skipped}")
    parts.append(f"protocol {(data.get('manifest') or {}).get('protocol')}")
    return ", ".join(parts)


def evaluation_document(
    data: Mapping[str, Any],
    rows: Sequence[dict[str, Any]] = (),
    visuals: Any = None,
    source: str = "",
    reference_rows: Sequence[dict[str, Any]] | None = None,
) -> Document:
    """Document of ``genmetrics evaluate`` (``data``: ``EvaluationResult.to_dict()``).
    With ``visuals``: sample grids of both sets (``reference_rows``: the reference images,
    default: listed from the manifest's reference source), the images outside the other
    set's manifold where precision/recall/density/coverage ran, score distributions and the
    best and worst images per per-image metric."""
    table_rows = []
    records = []
    for name, m in (data.get("metrics") or {}).items():
        lo, hi = _ci(m.get("ci95"))
        table_rows.append(
            [text_cell(name), number_cell(m.get("value")), number_cell(m.get("std")), ci_cell(lo, hi)]
        )
        records.append(
            {"metric": name, "value": m.get("value"), "std": m.get("std"), "ci_low": lo, "ci_high": hi}
        )
    table = Table(
        ["metric", "value", "std", "95% CI"],
        table_rows,
        caption=_counts_line(data),
        align=["left", "right", "right", "left"],
        title="genmetrics",
    )
    doc = Document(
        "genmetrics evaluation",
        [Section("", [table])],
        data=dict(data),
        records=Records(list(EVALUATE_CSV_COLUMNS), records),
        manifest=_command_manifest(data),
        subtitle=source,
        kind="evaluate",
    )
    warnings = data.get("warnings") or []
    if warnings:
        doc.sections.append(Section("warnings", [Note(w) for w in warnings], html_only=True))
    if visuals is not None:
        if reference_rows is None:
            from genmetrics.results.render.samples import reference_rows as listed

            reference_rows = listed(data)
        refs = list(reference_rows)
        doc.sections += visuals.sample_sections({"generated": list(rows), "reference": refs})
        doc.sections += visuals.manifold_sections(list(rows), refs)
    if visuals is not None and rows:
        name = source or "generated"
        columns = metric_columns(rows, list(data.get("metrics") or {}))
        doc.sections += visuals.distribution_sections({name: list(rows)}, columns)
        doc.sections += visuals.extreme_sections({name: list(rows)}, columns)
    return doc


# ---------------------------------------------------------------- benchmark


def _benchmark_caption(data: Mapping[str, Any]) -> str:
    counts = data.get("counts") or {}
    caption = f"{data.get('source')}: {counts.get('images')} images, {counts.get('prompts')} prompts"
    if "suite_prompts" in counts:
        caption += (
            f", suite {data.get('suite')} ({counts['suite_prompts']} prompts), "
            f"{counts.get('missing_prompts', 0)} missing"
        )
        unmatched = counts.get("images_without_prompt") or []
        if unmatched:
            caption += f", {len(unmatched)} images without prompt"
    if counts.get("unreadable_skipped"):
        caption += f", {counts['unreadable_skipped']} unreadable"
    return caption


def _chunk_note(n_chunks: Any) -> str:
    return f"mean of {n_chunks} chunk means ± population std of chunk means"


def benchmark_document(
    data: Mapping[str, Any],
    rows: Sequence[dict[str, Any]] = (),
    visuals: Any = None,
) -> Document:
    """Document of ``genmetrics benchmark`` (``data``: ``BenchmarkReport.to_dict()``)."""
    counts = data.get("counts") or {}
    covered = "suite_prompts" in counts
    missing = counts.get("missing_by_style") or {}
    caption = _benchmark_caption(data)
    sections: list[Section] = []
    records: list[dict[str, Any]] = []
    for metric, entry in (data.get("metrics") or {}).items():
        per_image = bool(entry.get("per_image"))
        table_rows = []
        for c in entry.get("cells") or []:
            style = str(c["style"])
            miss = sum(missing.values()) if style == AVERAGE else missing.get(style, 0)
            lo, hi = _ci(c.get("ci95"))
            set_level = c.get("method") in ("set", "styles-mean")
            table_rows.append(
                [
                    text_cell(style),
                    _estimate(c),
                    ci_cell(lo, hi),
                    count_cell(None if set_level else c.get("n_prompts")),
                    count_cell(c.get("n_images")),
                    count_cell(miss if covered else None),
                ]
            )
            records.append(
                {
                    "metric": metric,
                    "style": style,
                    "mean": c.get("mean"),
                    "std": c.get("std"),
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_prompts": c.get("n_prompts"),
                    "n_images": c.get("n_images"),
                    "missing_prompts": miss if covered else None,
                    "method": c.get("method"),
                }
            )
        note = (
            f"{_chunk_note(data.get('n_chunks'))}; 95% bootstrap CI of the mean"
            if per_image
            else "set-level metric computed on each style's images (± its own std)"
        )
        footnote = PER_IMAGE_NOTE if per_image else SET_LEVEL_NOTE
        sections.append(
            Section(
                f"{metric} — {note}",
                [
                    Table(
                        ["style", "mean ± std", "95% CI", "prompts", "images", "missing"],
                        table_rows,
                        caption=f"{caption}. {footnote}",
                    )
                ],
                anchor=f"metric-{metric}",
            )
        )
    doc = Document(
        f"benchmark of {data.get('source')}",
        sections,
        data=dict(data),
        records=Records(list(BENCHMARK_CSV_COLUMNS), records),
        manifest=_command_manifest(data),
        subtitle=caption,
        kind="benchmark",
    )
    if visuals is not None and rows:
        name = str(data.get("source") or "images")
        per_image = [m for m, e in (data.get("metrics") or {}).items() if e.get("per_image")]
        columns = metric_columns(rows, per_image)
        styles = list(data.get("styles") or [])
        doc.sections += visuals.distribution_sections({name: list(rows)}, columns, styles)
        doc.sections += visuals.extreme_sections({name: list(rows)}, columns)
    return doc


# ---------------------------------------------------------------- compare


def _mark_worse(rows: list[list[Cell]], names: list[str], baseline: str, hib: bool) -> list[list[Cell]]:
    """Each set-level cell of a variant whose value is worse than the baseline's in the same
    column gets ``tone="worse"`` (the HTML shades it)."""
    base = rows[names.index(baseline)]
    out = []
    for name, row in zip(names, rows, strict=True):
        if name == baseline:
            out.append(row)
            continue
        marked = [row[0]]
        for cell, ref in zip(row[1:], base[1:], strict=True):
            v, b = cell.sort_value, ref.sort_value
            worse = v is not None and b is not None and (v < b if hib else v > b)
            marked.append(dataclasses.replace(cell, tone="worse") if worse else cell)
        out.append(marked)
    return out


def compare_document(
    data: Mapping[str, Any],
    rows_by_set: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    visuals: Any = None,
) -> Document:
    """Document of ``genmetrics compare`` (``data``: ``CompareReport.to_dict()``)."""
    styles = [*(data.get("styles") or []), AVERAGE]
    names = [str(s["name"]) for s in data.get("sets") or []]
    baseline = str(data.get("baseline") or (names[0] if names else "baseline"))
    n_chunks = data.get("n_chunks")
    sections: list[Section] = []
    headlines: list[Headline] = []
    for metric, entry in (data.get("metrics") or {}).items():
        hib = bool(entry.get("higher_is_better", True))
        arrow = "↑" if hib else "↓"
        per_image = bool(entry.get("per_image"))
        tables = {n: _by_style(cells) for n, cells in (entry.get("table") or {}).items()}
        rows = [
            [text_cell(n), *(_estimate(tables[n][s]) for s in styles)] for n in tables
        ]
        note = f"{_chunk_note(n_chunks)}; {PER_IMAGE_NOTE}" if per_image else SET_LEVEL_NOTE
        if not per_image and baseline in tables:
            rows = _mark_worse(rows, list(tables), baseline, hib)
            note += (
                f". Shaded red: worse than {baseline} in that style (set-level values have no "
                "paired test: a difference, not a verdict)"
            )
        sections.append(
            Section(
                f"{metric} {arrow}",
                [Table(["", *styles], rows, caption=note)],
                anchor=f"metric-{metric}",
            )
        )
        if not per_image:
            continue
        margin = entry.get("margin") or 0.0
        prow: list[list[Cell]] = []
        forest_rows = []
        for variant, pc in (entry.get("paired") or {}).items():
            by_style = pc.get("styles") or {}
            for s in styles:
                r = by_style.get(s)
                if r is None:
                    prow.append(
                        [text_cell(variant), text_cell(s), *(text_cell("") for _ in range(4)),
                         verdict_cell("n/a (< 2 prompts)")]
                    )
                    continue
                lo, hi = _ci(r.get("ci95"))
                prow.append(
                    [
                        text_cell(variant),
                        text_cell(s),
                        number_cell(r.get("diff")),
                        ci_cell(lo, hi),
                        p_cell(r.get("p_value_ttest")),
                        p_cell(r.get("p_value_wilcoxon")),
                        verdict_cell(str(r.get("verdict"))),
                    ]
                )
                forest_rows.append((f"{variant} · {s}", r.get("diff"), lo, hi, str(r.get("verdict"))))
            overall = by_style.get(AVERAGE)
            if overall is not None:
                headlines.append(_headline(metric, variant, baseline, overall, by_style, hib))
        blocks: list[Any] = [
            Table(
                ["variant", "style", "diff", "95% CI", "p (t-test)", "p (Wilcoxon)", "verdict"],
                prow,
            )
        ]
        if visuals is not None and forest_rows:
            blocks.append(visuals.forest(forest_rows, metric, float(margin), hib))
        sections.append(
            Section(
                f"{metric}: paired difference vs {baseline} (variant − baseline), "
                f"margin {format_number(margin)}",
                blocks,
                anchor=f"paired-{metric}",
            )
        )
    sections += fidelity.fidelity_sections(data, styles, baseline, visuals)
    doc = Document(
        f"comparison against {baseline}",
        sections,
        data=dict(data),
        records=Records(list(COMPARE_CSV_COLUMNS), _compare_records(data, styles, names, baseline)),
        manifest=_command_manifest(data),
        subtitle=", ".join(
            f"{s['name']}: {s.get('source')}" for s in data.get("sets") or []
        ),
        headlines=headlines,
        kind="compare",
    )
    if visuals is not None and rows_by_set:
        paired = [m for m, e in (data.get("metrics") or {}).items() if e.get("per_image")]
        hib = {m: bool(e.get("higher_is_better", True)) for m, e in (data.get("metrics") or {}).items()}
        any_rows = next(iter(rows_by_set.values()), [])
        columns = metric_columns(list(any_rows), paired)
        doc.sections += visuals.distribution_sections(rows_by_set, columns, styles[:-1])
        rank = data.get("changes_ranked_by") or (paired[0] if paired else None)
        if rank in paired and len(names) > 1:
            doc.sections += visuals.change_sections(
                rows_by_set, names[0], names[1:], rank, hib[rank], styles[:-1], columns
            )
        elif rank and len(names) > 1:  # a paired similarity metric (lpips, ssim…)
            sim_hib = next(iter((data.get("similarity") or {}).values()), {}).get("higher_is_better") or {}
            doc.sections += fidelity.similarity_change_sections(
                visuals, rows_by_set, names[0], names[1:], rank, bool(sim_hib.get(rank, True)), styles[:-1]
            )
        doc.sections += visuals.extreme_sections(rows_by_set, columns)
    return doc


def _headline(
    metric: str,
    variant: str,
    baseline: str,
    overall: Mapping[str, Any],
    by_style: Mapping[str, Any],
    hib: bool,
) -> Headline:
    verdict = str(overall.get("verdict"))
    lo, hi = _ci(overall.get("ci95"))
    text = (
        f"{variant} vs {baseline}, {metric}: {verdict} overall "
        f"(Δ {format_number(overall.get('diff'))}, 95% CI {format_number(lo)} … "
        f"{format_number(hi)}, p {p_cell(overall.get('p_value_ttest')).display()})"
    )
    worse = [s for s, r in by_style.items() if s != AVERAGE and r and r.get("verdict") == "worse"]
    if worse:
        text += "; worse on " + ", ".join(worse)
    better = [s for s, r in by_style.items() if s != AVERAGE and r and r.get("verdict") == "better"]
    if better:
        text += "; better on " + ", ".join(better)
    return Headline(text, verdict)


def _compare_records(
    data: Mapping[str, Any], styles: list[str], names: list[str], baseline: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for metric, entry in (data.get("metrics") or {}).items():
        per_image = bool(entry.get("per_image"))
        tables = {n: _by_style(cells) for n, cells in (entry.get("table") or {}).items()}
        for name in tables:
            for s in styles:
                c = tables[name][s]
                lo, hi = _ci(c.get("ci95"))
                row: dict[str, Any] = dict.fromkeys(COMPARE_CSV_COLUMNS)
                row.update(
                    metric=metric,
                    variant=name,
                    style=s,
                    mean=c.get("mean"),
                    std=c.get("std"),
                    ci_low=lo,
                    ci_high=hi,
                    n=c.get("n_prompts") or c.get("n_images"),
                    kind="score",
                )
                if name != baseline:
                    if per_image:
                        r = ((entry.get("paired") or {}).get(name) or {}).get("styles", {}).get(s)
                        if r is not None:
                            dlo, dhi = _ci(r.get("ci95"))
                            row.update(
                                diff=r.get("diff"),
                                diff_ci_low=dlo,
                                diff_ci_high=dhi,
                                p_value=r.get("p_value_ttest"),
                                verdict=r.get("verdict"),
                                p_value_wilcoxon=r.get("p_value_wilcoxon"),
                            )
                    else:
                        row["diff"] = ((entry.get("difference") or {}).get(name) or {}).get(s)
                out.append(row)
    out += fidelity.similarity_records(data, styles, COMPARE_CSV_COLUMNS)
    return out


# ---------------------------------------------------------------- pair


def pair_document(data: Mapping[str, Any], a: str, b: str) -> Document:
    """Document of ``genmetrics pair`` (``data``: its JSON object)."""
    counts = data.get("counts") or {}
    caption = f"{counts.get('pairs', 0)} pair(s)"
    if counts.get("only_a") or counts.get("only_b"):
        caption += f"; {counts.get('only_a', 0)} only in A, {counts.get('only_b', 0)} only in B"
    rows = []
    records = []
    for name, s in (data.get("metrics") or {}).items():
        rows.append(
            [text_cell(name), number_cell(s.get("value")), number_cell(s.get("std")), count_cell(s.get("n"))]
        )
        records.append({"metric": name, "value": s.get("value"), "std": s.get("std"), "n": s.get("n")})
    table = Table(["metric", "mean", "std", "n"], rows, caption=caption, title=f"{a} vs {b}")
    return Document(
        f"{a} vs {b}",
        [Section("", [table])],
        data=dict(data),
        records=Records(list(PAIR_CSV_COLUMNS), records),
        kind="pair",
    )
