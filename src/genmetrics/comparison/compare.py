"""``run_compare``: variants against a baseline on the same prompts.

Each folder is evaluated once for all metrics (:func:`genmetrics.comparison.scoring.score_set`;
backbones are built once and shared by all folders). Per metric there is one per-style table
row per folder (baseline first); per-image metrics also get, for each variant, the paired
per-prompt difference against the baseline (matched by prompt id and sample) with its
bootstrap CI, p-values and verdict under the metric's margin. Set-level metrics get the plain
difference of values (no per-item pairing exists); their Average is the mean of the style
values (see :mod:`genmetrics.comparison.tables`), so its difference is the mean of the style
differences. Optional paired image similarity (PSNR, SSIM, MS-SSIM) compares each variant
image with the baseline image of the same id. Options that have no effect for the metrics
asked (``--margin`` with only set-level metrics…) are errors, see
:mod:`genmetrics.comparison.options`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genmetrics.backbones.registry import Backbone
from genmetrics.comparison.benchmark import DEFAULT_N_CHUNKS, tables_of
from genmetrics.comparison.options import check_unused_options
from genmetrics.comparison.paired import PairedComparison, paired_comparison, paired_to_dict
from genmetrics.comparison.preference import preference_summary
from genmetrics.comparison.scores import default_style
from genmetrics.comparison.scoring import ScoredSet, prepare_backbones, score_set
from genmetrics.comparison.similarity import (
    PairSimilarity,
    pair_similarity,
    parse_similarity,
    summaries_by_group,
)
from genmetrics.comparison.tables import AVERAGE, StyleTable
from genmetrics.errors import UserError
from genmetrics.metrics.registry import get_metric
from genmetrics.metrics.reward import PREFERENCE_METRICS
from genmetrics.pipeline.plan import parse_metric_names

__all__ = ["CompareReport", "default_names", "parse_margins", "run_compare"]


def parse_margins(
    text: str | Mapping[str, float] | None, metrics: Sequence[str]
) -> dict[str, float]:
    """``"hps=0.1,clip_score=0.5"`` → ``{"hps": 0.1, "clip_score": 0.5}`` (metrics checked)."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        pairs = [(str(k), v) for k, v in text.items()]
    else:
        pairs = []
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if "=" not in part:
                raise UserError(f"--margins: '{part}' is not METRIC=VALUE (e.g. hps=0.1)")
            k, v = part.split("=", 1)
            pairs.append((k, v))
    out: dict[str, float] = {}
    for k, v in pairs:
        key = k.strip().lower().replace("-", "_")
        if key not in metrics:
            raise UserError(
                f"--margins names '{key}', which is not among --metrics ({', '.join(metrics)})"
            )
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise UserError(f"--margins: '{v}' for {key} is not a number") from None
        if not value >= 0 or value == float("inf"):
            raise UserError(f"--margins: the margin of {key} must be a finite number >= 0, got {v}")
        out[key] = value
    return out


def default_names(paths: Sequence[str]) -> list[str]:
    """Folder base names, made unique with ``#2``, ``#3``… when two are equal."""
    base = [os.path.basename(os.fspath(p).rstrip("/\\")) or os.fspath(p) for p in paths]
    out: list[str] = []
    for i, name in enumerate(base):
        out.append(name if base.count(name) == 1 else f"{name}#{i + 1}")
    return out


@dataclass
class CompareReport:
    sets: list[ScoredSet]
    names: list[str]
    metrics: list[str]
    tables: dict[str, dict[str, StyleTable]]
    paired: dict[str, dict[str, PairedComparison]]
    margins: dict[str, float]
    similarity: dict[str, PairSimilarity] = field(default_factory=dict)
    similarity_metrics: list[str] = field(default_factory=list)
    n_chunks: int | None = DEFAULT_N_CHUNKS
    """None when no metric is per-image (set-level metrics have no chunks)."""
    seed: int = 0
    suite: str | None = None
    preference: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Softmax preference of each variant (metric → variant → style), for metrics whose
    scores are softmax logits (PickScore); see :mod:`genmetrics.comparison.preference`."""

    @property
    def styles(self) -> list[str]:
        return self.sets[0].styles

    @property
    def variants(self) -> list[str]:
        return self.names[1:]

    def higher_is_better(self, metric: str) -> bool:
        return get_metric(metric).higher_is_better

    def similarity_summary(self, variant: str) -> dict[str, dict[str, dict[str, Any]]]:
        """``{style or "Average": {metric: {"value", "std", "n"}}}`` for one variant."""
        sim = self.similarity[variant]
        style_of = dict(self.sets[0].style_of)
        group_of = {r["id"]: style_of.get(r["id"], default_style(r["id"])) for r in sim.rows}
        out = summaries_by_group(sim, group_of, self.styles)
        out[AVERAGE] = sim.summary()
        return out

    def set_level_diff(self, metric: str, variant: str, style: str) -> float | None:
        if metric in self.paired:
            return None
        base = self.tables[metric][self.names[0]].cell(style).mean
        return self.tables[metric][variant].cell(style).mean - base

    def to_dict(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        for m in self.metrics:
            entry: dict[str, Any] = {
                "per_image": m in self.paired,
                "higher_is_better": self.higher_is_better(m),
                "margin": self.margins.get(m, 0.0) if m in self.paired else None,
                "table": {n: [c.to_dict() for c in t.cells] for n, t in self.tables[m].items()},
            }
            pooled = {
                n: t.all_images.to_dict()
                for n, t in self.tables[m].items()
                if t.all_images is not None
            }
            if pooled:
                entry["all_images"] = pooled
            if m in self.paired:
                entry["paired"] = {
                    v: {
                        "n_pairs": pc.n_pairs,
                        "only_baseline": pc.only_baseline,
                        "only_variant": pc.only_variant,
                        "styles": {s: paired_to_dict(r) for s, r in pc.by_style.items()},
                    }
                    for v, pc in self.paired[m].items()
                }
            else:
                entry["difference"] = {
                    v: {s: self.set_level_diff(m, v, s) for s in [*self.styles, AVERAGE]}
                    for v in self.variants
                }
            if m in self.preference:
                entry["preference"] = self.preference[m]
            metrics[m] = entry
        out: dict[str, Any] = {
            "suite": self.suite,
            "styles": self.styles,
            "n_chunks": self.n_chunks,
            "seed": self.seed,
            "baseline": self.names[0],
            "sets": [
                {"name": n, "source": s.source, "counts": s.counts()}
                for n, s in zip(self.names, self.sets, strict=True)
            ],
            "metrics": metrics,
        }
        if self.similarity:
            out["similarity"] = {
                v: {
                    "metrics": self.similarity_metrics,
                    "only_baseline": self.similarity[v].only_a,
                    "only_variant": self.similarity[v].only_b,
                    "styles": self.similarity_summary(v),
                }
                for v in self.variants
            }
        out["manifest"] = self.sets[0].result.manifest
        return out


def run_compare(
    baseline: Any,
    variants: Sequence[Any],
    metrics: str | Sequence[str] = ("hps", "clip_score", "aesthetic"),
    suite: str | os.PathLike | None = "hpdv2",
    *,
    names: Sequence[str] | None = None,
    margin: float | None = None,
    margins: str | Mapping[str, float] | None = None,
    similarity: str | Sequence[str] | None = None,
    allow_missing: bool = False,
    n_chunks: int | None = None,
    seed: int | None = None,
    reference: Any = None,
    backbones: dict[str, Backbone] | None = None,
    **evaluate_kwargs: Any,
) -> CompareReport:
    """Compare each of ``variants`` with ``baseline`` (see module docstring).

    ``n_chunks`` (default 10), ``seed`` (default 0) and ``margin`` are None when not given;
    an option given that has no effect for ``metrics`` is an error.
    """
    if not variants:
        raise UserError("compare needs a baseline folder and at least one variant folder")
    sources = [baseline, *variants]
    labels = default_names(
        [
            os.fspath(s) if isinstance(s, (str, os.PathLike)) else f"set{i}"
            for i, s in enumerate(sources)
        ]
    )
    if names is not None:
        labels = [n.strip() for n in names]
        if len(labels) != len(sources) or len(set(labels)) != len(labels) or not all(labels):
            raise UserError(
                f"--names needs {len(sources)} distinct names (baseline first), got {len(labels)}"
            )
    wanted = parse_metric_names(metrics)
    per_metric_margin = parse_margins(margins, wanted)
    if margin is not None:
        if not 0 <= float(margin) < float("inf"):
            raise UserError(f"--margin must be a finite number >= 0, got {margin}")
        per_metric_margin = {m: per_metric_margin.get(m, float(margin)) for m in wanted}
    sim_metrics = parse_similarity(similarity) if similarity else []
    if n_chunks is not None and int(n_chunks) < 1:
        raise UserError(f"--n-chunks must be at least 1, got {n_chunks}")
    options = dict(
        n_chunks=n_chunks,
        seed=seed,
        reference=reference,
        allow_missing=allow_missing,
        suite=suite,
        margin=margin,
        margins=list(parse_margins(margins, wanted)),
        similarity=bool(sim_metrics),
    )
    check_unused_options("compare", wanted, **options)
    chunks = DEFAULT_N_CHUNKS if n_chunks is None else int(n_chunks)
    seed = 0 if seed is None else int(seed)

    instances = prepare_backbones(wanted, backbones, reference is not None, evaluate_kwargs)
    sets = [
        score_set(
            src,
            wanted,
            suite,
            allow_missing=allow_missing,
            reference=reference,
            backbones=instances,
            name=label,
            seed=seed,
            **evaluate_kwargs,
        )
        for src, label in zip(sources, labels, strict=True)
    ]
    base = sets[0]
    check_unused_options("compare", wanted, base.per_image, **options)
    tables: dict[str, dict[str, StyleTable]] = {m: {} for m in wanted}
    for label, scored in zip(labels, sets, strict=True):
        for m, table in tables_of(scored, wanted, chunks, seed).items():
            tables[m][label] = table
    paired: dict[str, dict[str, PairedComparison]] = {}
    for m in wanted:
        if m not in base.per_image:
            continue
        hib = get_metric(m).higher_is_better
        paired[m] = {
            label: paired_comparison(
                base.rows,
                scored.rows,
                m,
                per_metric_margin.get(m, 0.0),
                hib,
                base.styles,
                allow_missing,
                seed,
                names=(labels[0], label),
            )
            for label, scored in zip(labels[1:], sets[1:], strict=True)
        }
    preference: dict[str, dict[str, dict[str, Any]]] = {}
    for m in wanted:
        if m in paired and m in PREFERENCE_METRICS:
            preference[m] = {
                label: preference_summary(base.rows, scored.rows, m, base.styles,
                                          allow_missing, seed, names=(labels[0], label))
                for label, scored in zip(labels[1:], sets[1:], strict=True)
            }
    sims: dict[str, PairSimilarity] = {}
    for label, scored in zip(labels[1:], sets[1:], strict=True):
        if sim_metrics:
            sims[label] = pair_similarity(
                base.items, scored.items, sim_metrics, allow_missing, names=(labels[0], label)
            )
    return CompareReport(
        sets,
        labels,
        wanted,
        tables,
        paired,
        per_metric_margin,
        sims,
        sim_metrics,
        chunks if base.per_image else None,
        seed,
        None if suite is None else os.fspath(suite),
        preference,
    )
