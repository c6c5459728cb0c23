"""``run_benchmark``: the per-style HPS v2 benchmark table of one image folder, per metric.

See :mod:`genmetrics.comparison.tables` for the protocol (chunks of prompts in suite order,
samples of a prompt averaged first, bootstrap CIs, the Average row: the mean of all prompt
scores for a per-image metric, the mean of the style values for a set-level one),
:mod:`genmetrics.comparison.scoring` for missing images and set-level metrics and
:mod:`genmetrics.comparison.options` for the options that are refused when they have no
effect for the metrics asked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genmetrics.backbones.registry import Backbone
from genmetrics.comparison.options import check_unused_options
from genmetrics.comparison.scoring import ScoredSet, score_set
from genmetrics.comparison.tables import StyleTable, set_level_table, style_table
from genmetrics.errors import UserError
from genmetrics.pipeline.plan import parse_metric_names

__all__ = ["DEFAULT_N_CHUNKS", "BenchmarkReport", "run_benchmark", "tables_of"]

DEFAULT_N_CHUNKS = 10
PROTOCOL = (
    "HPS v2: per style, prompt scores (samples averaged) in suite order, n_chunks consecutive "
    "chunks, mean of chunk means ± population std of chunk means; 95% percentile bootstrap CI "
    "of the mean; Average = mean of all prompt scores. Set-level metrics: each style's value "
    "computed on that style's images; Average = mean of the style values; the value on all "
    "images pooled (a different quantity) is all_images"
)


@dataclass
class BenchmarkReport:
    """Tables per metric (in the requested order) for one scored folder.

    ``n_chunks`` is None when no metric is per-image (set-level metrics have no chunks).
    """

    scored: ScoredSet
    tables: dict[str, StyleTable]
    n_chunks: int | None
    seed: int
    suite: str | None

    @property
    def warnings(self) -> list[str]:
        """Every value's warnings, per-style ones folded per metric
        (:attr:`~genmetrics.comparison.scoring.ScoredSet.warnings`)."""
        return self.scored.warnings

    def to_dict(self) -> dict[str, Any]:
        s = self.scored
        return {
            "source": s.source,
            "suite": self.suite,
            "styles": s.styles,
            "n_chunks": self.n_chunks,
            "seed": self.seed,
            "protocol": PROTOCOL,
            "counts": s.counts(),
            "metrics": {m: table_to_dict(t, m in s.per_image) for m, t in self.tables.items()},
            "skipped": [{"path": p, "reason": r} for p, r in s.result.skipped],
            "warnings": self.warnings,
            "manifest": s.result.manifest,
        }


def table_to_dict(table: StyleTable, per_image: bool) -> dict[str, Any]:
    """``per_image``, ``cells`` and, for a set-level metric, ``all_images`` (pooled value)."""
    out: dict[str, Any] = {"per_image": per_image, "cells": [c.to_dict() for c in table.cells]}
    if table.all_images is not None:
        out["all_images"] = table.all_images.to_dict()
    return out


def tables_of(
    scored: ScoredSet, metrics: Sequence[str], n_chunks: int, seed: int
) -> dict[str, StyleTable]:
    """One :class:`StyleTable` per metric of a scored folder."""
    out: dict[str, StyleTable] = {}
    for m in metrics:
        if m in scored.per_image:
            out[m] = style_table(scored.rows, m, scored.styles, n_chunks, scored.order, seed=seed)
        else:
            out[m] = set_level_table(
                m, scored.set_level[m], scored.result.metrics[m], len(scored.rows), n_chunks
            )
    return out


def run_benchmark(
    images: Any,
    metrics: str | Sequence[str] = ("hps", "clip_score", "aesthetic"),
    suite: str | os.PathLike | None = "hpdv2",
    *,
    allow_missing: bool = False,
    n_chunks: int | None = None,
    seed: int | None = None,
    reference: Any = None,
    backbones: dict[str, Backbone] | None = None,
    **evaluate_kwargs: Any,
) -> BenchmarkReport:
    """Score ``images`` (HPS v2 layout ``STYLE/NNNNN.png``) and build the per-style tables.

    ``n_chunks`` (default 10) and ``seed`` (default 0) are None when not given: given with
    metrics they do not apply to (see :mod:`genmetrics.comparison.options`), they are an error.
    """
    if n_chunks is not None and int(n_chunks) < 1:
        raise UserError(f"--n-chunks must be at least 1, got {n_chunks}")
    names = parse_metric_names(metrics)
    options = dict(
        n_chunks=n_chunks,
        seed=seed,
        reference=reference,
        allow_missing=allow_missing,
        suite=suite,
    )
    check_unused_options("benchmark", names, **options)
    chunks = DEFAULT_N_CHUNKS if n_chunks is None else int(n_chunks)
    seed = 0 if seed is None else int(seed)
    scored = score_set(
        images,
        names,
        suite,
        allow_missing=allow_missing,
        reference=reference,
        backbones=backbones,
        seed=seed,
        **evaluate_kwargs,
    )
    check_unused_options("benchmark", names, scored.per_image, **options)
    tables = tables_of(scored, names, chunks, seed)
    return BenchmarkReport(
        scored,
        tables,
        chunks if scored.per_image else None,
        seed,
        None if suite is None else os.fspath(suite),
    )
