"""A folder listed without scoring, for a comparison with paired metrics only.

``compare BASE VARIANT --similarity psnr,ssim,lpips`` runs no per-image or set-level metric:
each folder is listed (and checked against the suite, as when scored), and every image gets
the row a scored folder would give it (id, path, prompt id and style), so the paired
similarity is grouped by style exactly as in a full comparison.
"""

from __future__ import annotations

import os
from typing import Any

from genmetrics.comparison.scores import default_style
from genmetrics.comparison.scoring import ScoredSet, check_coverage
from genmetrics.results.manifest import base_manifest
from genmetrics.results.result import EvaluationResult
from genmetrics.sources.decode import DECODE_POLICY
from genmetrics.sources.items import items_from
from genmetrics.suites.registry import load_suite

__all__ = ["listed_set"]


def listed_set(
    source: Any,
    suite: str | os.PathLike | None,
    *,
    allow_missing: bool = False,
    name: str | None = None,
) -> ScoredSet:
    """``source`` as a :class:`ScoredSet` with no metric column (styles from the suite, else
    the first folder of each id)."""
    from genmetrics.prompts.attach import prompt_id_of

    where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "in-memory images"
    items = items_from(source)
    suite_obj = load_suite(os.fspath(suite)) if suite is not None else None
    coverage = None
    rows: list[dict[str, Any]] = []
    if suite_obj is not None:
        coverage = check_coverage([i.id for i in items], suite_obj, allow_missing, where)
    for item in items:
        row: dict[str, Any] = {"id": item.id, "path": item.location}
        pid, _ = prompt_id_of(item.id)
        prompt = None
        if suite_obj is not None:
            try:
                prompt = suite_obj.by_id(pid)
            except KeyError:
                prompt = None
        if prompt is not None:
            row.update(prompt=prompt.prompt, style=prompt.style, prompt_id=prompt.id)
        elif suite_obj is not None:
            continue  # an image without a suite prompt (allowed by --allow-missing): left out
        else:
            row["style"] = default_style(item.id)
        rows.append(row)
    if suite_obj is not None:
        styles = list(suite_obj.styles)
        order = [p.id for p in suite_obj.items]
    else:
        styles = list(dict.fromkeys(r["style"] for r in rows))
        order = None
    kept = {r["id"] for r in rows}
    result = EvaluationResult(
        {},
        {"generated": len(rows), "generated_skipped": 0},
        base_manifest(metrics=[], decode_policy=DECODE_POLICY),
        rows,
    )
    label = name or os.path.basename(where.rstrip("/")) or where
    return ScoredSet(
        label, where, result, rows, styles, order, [], {}, coverage,
        [i for i in items if i.id in kept],
    )
