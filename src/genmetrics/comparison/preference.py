"""Softmax preference of a variant over the baseline, for scores that are softmax logits.

PickScore ranks the images of one prompt by ``softmax(s_1..s_k)``. For a baseline image and a
variant image of the same prompt and sample, the variant's share is
``p = exp(s_v) / (exp(s_b) + exp(s_v))``; per prompt the matched samples' ``p`` are averaged,
and per style (and overall, under ``Average``) the mean over prompts is reported with a 95%
percentile-bootstrap CI. 0.5 means no preference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genmetrics.comparison.paired import match_rows
from genmetrics.comparison.scores import Row, row_style
from genmetrics.comparison.tables import AVERAGE
from genmetrics.stats.bootstrap import mean_std_ci

__all__ = ["preference_summary"]


def preference_summary(
    baseline_rows: Sequence[Row],
    variant_rows: Sequence[Row],
    metric: str,
    styles: Sequence[str],
    allow_missing: bool = False,
    seed: int = 0,
    names: tuple[str, str] = ("baseline", "variant"),
) -> dict[str, dict[str, Any] | None]:
    """``{style or "Average": {"p_variant", "ci95", "n"} or None}`` (see module docstring)."""
    from genmetrics.metrics.reward import preference_probability

    keys, base, var, _, _ = match_rows(baseline_rows, variant_rows, metric, allow_missing, names)
    per_prompt: dict[str, tuple[str, list[float]]] = {}
    b = np.array([float(base[k][metric]) for k in keys])
    v = np.array([float(var[k][metric]) for k in keys])
    p = preference_probability(b, v) if keys else np.zeros(0)
    for key, pk in zip(keys, p, strict=True):
        per_prompt.setdefault(key[0], (row_style(base[key]), []))[1].append(float(pk))
    groups: dict[str, list[float]] = {s: [] for s in styles}
    for style, values in per_prompt.values():
        groups.setdefault(style, []).append(float(np.mean(values)))
    groups[AVERAGE] = [x for s in groups for x in groups[s]]
    out: dict[str, dict[str, Any] | None] = {}
    for style, values in groups.items():
        if not values:
            out[style] = None
            continue
        s = mean_std_ci(values, seed=seed)
        out[style] = {"p_variant": s.mean, "ci95": [s.ci_low, s.ci_high], "n": s.n}
    return out
