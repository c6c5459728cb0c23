"""Per-style score tables: the HPS v2 benchmark protocol plus bootstrap intervals.

For a per-image metric and each style (Wu et al. 2023, arXiv:2306.09341, HPS v2 benchmark):

1. prompt scores in suite order (a prompt's samples averaged first, see
   :mod:`genmetrics.comparison.scores`);
2. split into ``n_chunks`` consecutive chunks (800 prompts → 10 × 80);
3. ``mean`` = mean of the chunk means, ``std`` = population std (ddof=0) of the chunk means
   (:func:`genmetrics.stats.chunked_mean_std`);
4. ``[ci_low, ci_high]`` = 95% percentile bootstrap CI of the style's mean prompt score.

The ``Average`` row is the plain mean of all prompt scores of all styles (equal to the mean of
all images when every prompt has the same number of samples) with its bootstrap CI; it has
no chunk std. Prompts without images (``--allow-missing``) are left out of the sequence
before chunking.

A set-level metric (IS, FID…) has no per-image scores: its per-style cell is the metric
computed on that style's images (its own std/CI when it has one) — see :func:`set_level_cell`.
Its ``Average`` is what the header says, the mean of the per-style values (as the HPS v2
paper's Average of the style columns; method ``"styles-mean"``, no std or CI), left empty
(``nan``, shown ``—``) when a style has no value. The metric computed on all images pooled is
a different quantity (one FID over 3200 images is not the mean of four FIDs over 800): it is
kept apart as :attr:`StyleTable.all_images` and reported only in JSON, under ``all_images``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genmetrics.comparison.scores import Row, prompt_scores
from genmetrics.errors import UserError
from genmetrics.metrics.registry import MetricValue
from genmetrics.stats import chunked_mean_std, mean_std_ci

__all__ = ["AVERAGE", "Cell", "StyleTable", "set_level_cell", "style_table"]

AVERAGE = "Average"


@dataclass(frozen=True)
class Cell:
    """One style (or ``Average``) of one metric.

    ``method`` says how ``std`` was obtained: ``"chunks"`` (HPS v2 protocol), ``"none"``
    (the Average row of a per-image metric), ``"set"`` (a set-level metric's own spread,
    possibly absent) or ``"styles-mean"`` (a set-level metric's Average: the mean of the
    style values, no spread).
    """

    style: str
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    n_prompts: int
    n_images: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "mean": self.mean,
            "std": self.std,
            "ci95": None if self.ci_low is None else [self.ci_low, self.ci_high],
            "n_prompts": self.n_prompts,
            "n_images": self.n_images,
            "method": self.method,
        }


@dataclass(frozen=True)
class StyleTable:
    """Cells of one metric: the styles in order, then ``Average``.

    ``all_images`` (set-level metrics only) is the metric on all images pooled, which is not
    the ``Average`` (the mean of the style values).
    """

    metric: str
    cells: tuple[Cell, ...]
    n_chunks: int
    all_images: Cell | None = None

    def cell(self, style: str) -> Cell:
        for c in self.cells:
            if c.style == style:
                return c
        raise KeyError(style)

    @property
    def styles(self) -> list[str]:
        return [c.style for c in self.cells if c.style != AVERAGE]


_NAN = float("nan")


def _empty(style: str, method: str) -> Cell:
    return Cell(style, _NAN, None, None, None, 0, 0, method)


def style_table(
    rows: Sequence[Row],
    metric: str,
    styles: Sequence[str] | None = None,
    n_chunks: int = 10,
    order: Sequence[str] | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> StyleTable:
    """The per-style table of a per-image ``metric`` from score rows (see module docstring).

    ``order`` is the suite's prompt ids (prompt order for chunking); ``styles`` the style
    order (a style with no scores gets an empty ``nan`` cell).
    """
    groups = prompt_scores(rows, metric, styles, order)
    cells: list[Cell] = []
    everything: list[np.ndarray] = []
    n_images = 0
    for style, group in groups.items():
        if group.scores.size == 0:
            cells.append(_empty(style, "chunks"))
            continue
        if group.scores.size < n_chunks:
            raise UserError(
                f"{metric}, style '{style}': {group.scores.size} prompt(s) with images cannot be "
                f"split into {n_chunks} chunks; pass a smaller --n-chunks"
            )
        chunked = chunked_mean_std(group.scores, n_chunks)
        summary = mean_std_ci(group.scores, confidence, n_resamples, seed)
        cells.append(
            Cell(
                style,
                chunked.mean,
                chunked.std,
                summary.ci_low,
                summary.ci_high,
                int(group.scores.size),
                group.n_images,
                "chunks",
            )
        )
        everything.append(group.scores)
        n_images += group.n_images
    if everything:
        all_scores = np.concatenate(everything)
        summary = mean_std_ci(all_scores, confidence, n_resamples, seed)
        cells.append(
            Cell(
                AVERAGE,
                summary.mean,
                None,
                summary.ci_low,
                summary.ci_high,
                int(all_scores.size),
                n_images,
                "none",
            )
        )
    else:
        cells.append(_empty(AVERAGE, "none"))
    return StyleTable(metric, tuple(cells), int(n_chunks))


def set_level_cell(style: str, value: MetricValue | None, n_images: int) -> Cell:
    """A set-level metric's value on one style's images (``None``: no images → ``nan``)."""
    if value is None:
        return _empty(style, "set")
    ci = value.ci
    return Cell(
        style,
        float(value.value),
        None if value.std is None else float(value.std),
        None if ci is None else float(ci[0]),
        None if ci is None else float(ci[1]),
        0,
        int(n_images),
        "set",
    )


def set_level_table(
    metric: str,
    per_style: Mapping[str, tuple[MetricValue | None, int]],
    overall: MetricValue,
    n_overall: int,
    n_chunks: int,
) -> StyleTable:
    """Table of a set-level metric: one cell per style, ``Average`` = the mean of the style
    values (``nan`` when a style has none); ``overall`` (all images pooled) → ``all_images``."""
    cells = [set_level_cell(s, v, n) for s, (v, n) in per_style.items()]
    values = [c.mean for c in cells]
    n_images = sum(c.n_images for c in cells)
    if cells and all(c.n_images > 0 and not np.isnan(c.mean) for c in cells):
        average = Cell(
            AVERAGE, float(np.mean(values)), None, None, None, 0, n_images, "styles-mean"
        )
    else:
        average = _empty(AVERAGE, "styles-mean")
    cells.append(average)
    pooled = set_level_cell("all images", overall, n_overall)
    return StyleTable(metric, tuple(cells), n_chunks, pooled)
