"""``run_benchmark``: the per-style HPS v2 benchmark table of one image folder, per metric.

See :mod:`genmetrics.comparison.tables` for the protocol (chunks of prompts in suite order,
samples of a prompt averaged first, bootstrap CIs, the Average row) and
:mod:`genmetrics.comparison.scoring` for missing images and set-level metrics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genmetrics.backbones.registry import Backbone
from genmetrics.comparison.scoring import ScoredSet, score_set
from genmetrics.comparison.tables import StyleTable, set_level_table, style_table
from genmetrics.errors import UserError

__all__ = ["BenchmarkReport", "run_benchmark", "tables_of"]


@dataclass
class BenchmarkReport:
    """Tables per metric (in the requested order) for one scored folder."""

    scored: ScoredSet
    tables: dict[str, StyleTable]
    n_chunks: int
    seed: int
    suite: str | None

    def to_dict(self) -> dict[str, Any]:
        s = self.scored
        return {
            "source": s.source,
            "suite": self.suite,
            "styles": s.styles,
            "n_chunks": self.n_chunks,
            "seed": self.seed,
            "protocol": "HPS v2: per style, prompt scores (samples averaged) in suite order, "
            "n_chunks consecutive chunks, mean of chunk means ± population std of chunk means; "
            "95% percentile bootstrap CI of the mean; Average = mean of all prompt scores",
            "counts": s.counts(),
            "metrics": {
                m: {"per_image": m in s.per_image, "cells": [c.to_dict() for c in t.cells]}
                for m, t in self.tables.items()
            },
            "skipped": [{"path": p, "reason": r} for p, r in s.result.skipped],
            "manifest": s.result.manifest,
        }


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
    n_chunks: int = 10,
    seed: int = 0,
    reference: Any = None,
    backbones: dict[str, Backbone] | None = None,
    **evaluate_kwargs: Any,
) -> BenchmarkReport:
    """Score ``images`` (HPS v2 layout ``STYLE/NNNNN.png``) and build the per-style tables."""
    if int(n_chunks) < 1:
        raise UserError(f"--n-chunks must be at least 1, got {n_chunks}")
    scored = score_set(
        images,
        metrics,
        suite,
        allow_missing=allow_missing,
        reference=reference,
        backbones=backbones,
        seed=seed,
        **evaluate_kwargs,
    )
    names = list(scored.result.metrics)
    tables = tables_of(scored, names, int(n_chunks), seed)
    return BenchmarkReport(
        scored, tables, int(n_chunks), seed, None if suite is None else os.fspath(suite)
    )
