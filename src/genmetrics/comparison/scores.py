"""Per-image score rows → per-prompt scores, keyed and ordered the way the benchmark needs.

A score row is one dict of :attr:`genmetrics.results.result.EvaluationResult.per_image`:
``id`` (``anime/00042_k1``), optional ``style`` and ``prompt_id`` (set when a suite gave the
prompt), and one column per per-image metric. Rules used everywhere in this package:

* key of a row: ``(prompt id, sample)``; the prompt id is the row's ``prompt_id`` (else the id
  with its ``_kN`` suffix removed) and the sample is ``N`` from ``_kN`` (0 without a suffix);
* style of a row: its ``style`` (else the first folder of its id, else ``"all"``);
* several samples of one prompt are averaged first: a prompt's score is the mean of its
  samples' scores, so every prompt weighs the same whatever its number of samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.prompts.attach import prompt_id_of

__all__ = [
    "PromptScores",
    "default_style",
    "per_image_metrics",
    "prompt_scores",
    "row_key",
    "row_style",
]

Row = Mapping[str, Any]


def default_style(image_id: str) -> str:
    """First folder of an id (``anime/00042`` → ``anime``), or ``"all"`` for a flat folder."""
    return image_id.split("/", 1)[0] if "/" in image_id else "all"


def row_key(row: Row) -> tuple[str, int]:
    """``(prompt id, sample index)`` of a score row."""
    pid, sample = prompt_id_of(str(row["id"]))
    return str(row.get("prompt_id") or pid), sample


def row_style(row: Row) -> str:
    return str(row.get("style") or default_style(str(row["id"])))


def per_image_metrics(rows: Sequence[Row], metrics: Iterable[str]) -> list[str]:
    """The metrics of ``metrics`` that have a column (a per-image score) in every row."""
    return [m for m in metrics if rows and all(m in r for r in rows)]


@dataclass(frozen=True)
class PromptScores:
    """Prompt-level scores of one style, in prompt order."""

    style: str
    prompt_ids: tuple[str, ...]
    scores: np.ndarray  # float64, one per prompt (mean of its samples)
    n_samples: tuple[int, ...]

    @property
    def n_images(self) -> int:
        return int(sum(self.n_samples))


def _order_index(order: Sequence[str] | None) -> dict[str, int] | None:
    return None if order is None else {pid: i for i, pid in enumerate(order)}


def prompt_scores(
    rows: Sequence[Row],
    metric: str,
    styles: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
) -> dict[str, PromptScores]:
    """Group ``rows`` by style and prompt, averaging the samples of each prompt.

    Prompts are ordered by their position in ``order`` (the suite's prompt ids) when given,
    otherwise by prompt id (zero-padded ids sort in prompt order). ``styles`` fixes which
    styles appear and in which order (a style without rows gets an empty entry); by default
    the styles in order of first appearance.
    """
    per_style: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if metric not in row:
            raise UserError(
                f"metric '{metric}' has no per-image score for '{row.get('id')}'; "
                "only per-image metrics can be split by prompt"
            )
        pid, _ = row_key(row)
        per_style.setdefault(row_style(row), {}).setdefault(pid, []).append(float(row[metric]))
    names = list(styles) if styles is not None else list(per_style)
    rank = _order_index(order)
    out: dict[str, PromptScores] = {}
    for style in names:
        prompts = per_style.get(style, {})
        if rank is not None:
            unknown = [p for p in prompts if p not in rank]
            if unknown:
                raise UserError(f"prompt id '{unknown[0]}' is not in the suite; check --suite")
            ids = sorted(prompts, key=rank.__getitem__)
        else:
            ids = sorted(prompts)
        out[style] = PromptScores(
            style,
            tuple(ids),
            np.array([np.mean(prompts[p]) for p in ids], dtype=np.float64),
            tuple(len(prompts[p]) for p in ids),
        )
    return out
