"""``run_compare``: variants against a baseline on the same prompts.

Each folder is evaluated once for all metrics (:func:`genmetrics.comparison.scoring.score_set`;
backbones are built once and shared by all folders). Per metric there is one per-style table
row per folder (baseline first); per-image metrics also get, for each variant, the paired
per-prompt difference against the baseline (matched by prompt id and sample) with its
bootstrap CI, p-values and verdict under the metric's margin. Set-level metrics get the plain
difference of values (no per-item pairing exists); their Average is the mean of the style
values (see :mod:`genmetrics.comparison.tables`), so its difference is the mean of the style
differences. Optional paired image similarity (PSNR, SSIM, MS-SSIM, LPIPS) compares each
variant image with the baseline image of the same id (per style and overall: mean, bootstrap
CI, worst pairs). With only ``similarity`` (no ``metrics``) no metric is evaluated: the folders
are listed (:mod:`genmetrics.comparison.listing`) and only the pairs are scored; the default
per-image metrics apply when neither is given. ``vs_baseline`` adds each variant's set-level
distance to the baseline's images (:mod:`genmetrics.comparison.vs_baseline`); ``require``
turns the result into a pass/fail gate (:mod:`genmetrics.comparison.gate`), its expressions
checked before any work. Options that have no effect for the metrics asked (``--margin``
with only set-level metrics…) are errors, see :mod:`genmetrics.comparison.options`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genmetrics.backbones.registry import Backbone
from genmetrics.comparison.benchmark import DEFAULT_N_CHUNKS, tables_of
from genmetrics.comparison.gate import (
    Outcome,
    check_requirements,
    evaluate_requirements,
    parse_requirements,
)
from genmetrics.comparison.listing import listed_set
from genmetrics.comparison.options import check_unused_options, static_per_image
from genmetrics.comparison.pair_metrics import PairOptions, build_scorers
from genmetrics.comparison.paired import PairedComparison, paired_comparison, paired_to_dict
from genmetrics.comparison.preference import preference_summary
from genmetrics.comparison.scores import default_style, row_style
from genmetrics.comparison.scoring import ScoredSet, prepare_backbones, score_set
from genmetrics.comparison.similarity import (
    PairSimilarity,
    pair_similarity,
    parse_similarity,
    summaries_by_group,
)
from genmetrics.comparison.tables import AVERAGE, StyleTable
from genmetrics.comparison.vs_baseline import parse_vs_baseline, vs_baseline_values
from genmetrics.errors import UserError
from genmetrics.metrics.pair_options import check_applies, pair_options
from genmetrics.metrics.registry import MetricValue, get_metric
from genmetrics.metrics.reward import PREFERENCE_METRICS
from genmetrics.pipeline.plan import parse_metric_names

__all__ = ["DEFAULT_METRICS", "CompareReport", "default_names", "parse_margins", "run_compare"]

DEFAULT_METRICS = ("hps", "clip_score", "aesthetic")


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
    vs_baseline: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    """Set-level distance of each variant to the baseline's images (metric → variant)."""
    requirements: list[Outcome] = field(default_factory=list)
    changes_ranked_by: str | None = None
    """The metric ranking the HTML report's largest-change cards (None: the first per-image
    metric); a paired similarity metric ranks pairs by their distance to the baseline."""
    _summaries: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def styles(self) -> list[str]:
        return self.sets[0].styles

    @property
    def variants(self) -> list[str]:
        return self.names[1:]

    def higher_is_better(self, metric: str) -> bool:
        return get_metric(metric).higher_is_better

    def similarity_summary(self, variant: str) -> dict[str, dict[str, dict[str, Any]]]:
        """``{style or "Average": {metric: {"value", "std", "ci95", "n", "worst"…}}}``."""
        if variant not in self._summaries:
            sim = self.similarity[variant]
            style_of = dict(self.sets[0].style_of)
            group_of = {r["id"]: style_of.get(r["id"], default_style(r["id"])) for r in sim.rows}
            out = summaries_by_group(sim, group_of, self.styles, self.seed)
            out[AVERAGE] = sim.summary(seed=self.seed)
            self._summaries[variant] = out
        return self._summaries[variant]

    @property
    def warnings(self) -> list[str]:
        """Every set's warnings as ``set: metric: …`` (per-style values folded, as in
        ``benchmark``) and those of the distances to the baseline, each once."""
        out = [f"{name}: {w}" for name, s in zip(self.names, self.sets, strict=True) for w in s.warnings]
        out += [f"{variant}: {metric} vs {self.names[0]}: {w}"
                for metric, by_variant in self.vs_baseline.items()
                for variant, value in by_variant.items() for w in value.warnings]
        return list(dict.fromkeys(out))

    @property
    def gate_failed(self) -> bool:
        return any(not o.met for o in self.requirements)

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
                    "higher_is_better": {
                        m: self.similarity[v].higher_is_better(m) for m in self.similarity_metrics
                    },
                    "protocols": self.similarity[v].protocols,
                    "only_baseline": self.similarity[v].only_a,
                    "only_variant": self.similarity[v].only_b,
                    "styles": self.similarity_summary(v),
                }
                for v in self.variants
            }
        if self.vs_baseline:
            out["vs_baseline"] = {
                m: {
                    "higher_is_better": self.higher_is_better(m),
                    "variants": {v: value.to_dict() for v, value in by_variant.items()},
                }
                for m, by_variant in self.vs_baseline.items()
            }
        if self.changes_ranked_by:
            out["changes_ranked_by"] = self.changes_ranked_by
        if self.requirements:
            out["requirements"] = {
                "passed": not self.gate_failed,
                "checks": [o.to_dict() for o in self.requirements],
            }
        out["manifest"] = self.sets[0].result.manifest
        return out


def run_compare(
    baseline: Any,
    variants: Sequence[Any],
    metrics: str | Sequence[str] | None = None,
    suite: str | os.PathLike | None = "hpdv2",
    *,
    names: Sequence[str] | None = None,
    margin: float | None = None,
    margins: str | Mapping[str, float] | None = None,
    similarity: str | Sequence[str] | None = None,
    similarity_options: Mapping[str, Any] | PairOptions | None = None,
    vs_baseline: str | Sequence[str] | None = None,
    require: Sequence[str] | None = None,
    rank_changes_by: str | None = None,
    allow_missing: bool = False,
    n_chunks: int | None = None,
    seed: int | None = None,
    reference: Any = None,
    backbones: dict[str, Backbone] | None = None,
    **evaluate_kwargs: Any,
) -> CompareReport:
    """Compare each of ``variants`` with ``baseline`` (see module docstring).

    ``metrics`` defaults to hps, clip_score and aesthetic unless ``similarity`` or
    ``vs_baseline`` is given; ``n_chunks`` (default 10), ``seed`` (default 0) and ``margin``
    are None when not given; an option given that has no effect for ``metrics`` is an error.
    ``similarity_options`` are the paired-metric options (``lpips_net``, ``lpips_resize``);
    ``rank_changes_by`` picks the metric of the HTML report's largest-change cards.
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
    sim_metrics = parse_similarity(similarity) if similarity else []
    vs_metrics = parse_vs_baseline(vs_baseline)
    if metrics is None:
        wanted = [] if sim_metrics or vs_metrics else list(DEFAULT_METRICS)
    else:
        wanted = parse_metric_names(metrics)
    requirements = parse_requirements(require)
    per_metric_margin = parse_margins(margins, wanted)
    if margin is not None:
        if not 0 <= float(margin) < float("inf"):
            raise UserError(f"--margin must be a finite number >= 0, got {margin}")
        per_metric_margin = {m: per_metric_margin.get(m, float(margin)) for m in wanted}
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
        vs_baseline=vs_metrics,
    )
    check_unused_options("compare", wanted, **options)
    pair_opts = _pair_options(similarity_options, sim_metrics, evaluate_kwargs)
    check_requirements(
        requirements, wanted, sim_metrics, vs_metrics, static_per_image,
        _known_styles(baseline, suite) if any(r.style for r in requirements) else None,
    )
    rank = _rank_metric(rank_changes_by, wanted, sim_metrics)
    chunks = DEFAULT_N_CHUNKS if n_chunks is None else int(n_chunks)
    seed = 0 if seed is None else int(seed)

    scorers = build_scorers(sim_metrics, pair_opts) if sim_metrics else {}
    instances = prepare_backbones(wanted, backbones, reference is not None, evaluate_kwargs)
    if vs_metrics:
        instances = prepare_backbones(vs_metrics, instances, True, evaluate_kwargs)
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
        if wanted
        else listed_set(src, suite, allow_missing=allow_missing, name=label)
        for src, label in zip(sources, labels, strict=True)
    ]
    base = sets[0]
    check_unused_options("compare", wanted, base.per_image, **options)
    report = CompareReport(
        sets,
        labels,
        wanted,
        _tables(sets, labels, wanted, chunks, seed),
        _paired(sets, labels, wanted, per_metric_margin, allow_missing, seed),
        per_metric_margin,
        {},
        sim_metrics,
        chunks if base.per_image else None,
        seed,
        None if suite is None else os.fspath(suite),
        _preference(sets, labels, wanted, allow_missing, seed),
    )
    if rank is not None and rank in wanted and rank not in base.per_image:
        raise UserError(f"--rank-changes-by {rank}: a set-level metric has no per-image change")
    report.changes_ranked_by = rank or (
        ("lpips" if "lpips" in sim_metrics else sim_metrics[0])
        if sim_metrics and not base.per_image else None
    )
    for label, scored in zip(labels[1:], sets[1:], strict=True):
        if sim_metrics:
            report.similarity[label] = pair_similarity(
                base.items, scored.items, sim_metrics, allow_missing,
                names=(labels[0], label), scorers=scorers,
            )
    if vs_metrics:
        report.vs_baseline = vs_baseline_values(
            base, sets[1:], labels[1:], vs_metrics, instances, seed=seed, **evaluate_kwargs
        )
    if requirements:
        report.requirements = evaluate_requirements(report, requirements)
    return report


def _pair_options(
    given: Mapping[str, Any] | PairOptions | None, sim_metrics: Sequence[str], run: dict[str, Any]
) -> PairOptions:
    """The paired-metric options, refused when no metric they apply to is asked."""
    if isinstance(given, PairOptions):
        return given
    given = {k: v for k, v in (given or {}).items() if v is not None}
    check_applies(given, sim_metrics, "--similarity")
    return pair_options(given, device=run.get("device", "auto"), offline=run.get("offline"))


def _rank_metric(name: str | None, wanted: Sequence[str], sim_metrics: Sequence[str]) -> str | None:
    if name is None:
        return None
    key = name.strip().lower().replace("-", "_")
    if key not in wanted and key not in sim_metrics:
        choices = ", ".join([*wanted, *sim_metrics]) or "none"
        raise UserError(
            f"--rank-changes-by {name}: not a per-image or --similarity metric of this "
            f"comparison (choose from: {choices})"
        )
    return key


def _known_styles(baseline: Any, suite: Any) -> list[str]:
    """The styles of a comparison, before any work: the suite's, else the baseline's folders."""
    from genmetrics.sources.items import items_from
    from genmetrics.suites.registry import load_suite

    if suite is not None:
        return list(load_suite(os.fspath(suite)).styles)
    return list(dict.fromkeys(row_style({"id": i.id}) for i in items_from(baseline)))


def _tables(sets, labels, wanted, chunks, seed) -> dict[str, dict[str, StyleTable]]:
    tables: dict[str, dict[str, StyleTable]] = {m: {} for m in wanted}
    for label, scored in zip(labels, sets, strict=True):
        for m, table in tables_of(scored, wanted, chunks, seed).items():
            tables[m][label] = table
    return tables


def _paired(sets, labels, wanted, margins, allow_missing, seed) -> dict[str, dict[str, PairedComparison]]:
    base = sets[0]
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
                margins.get(m, 0.0),
                hib,
                base.styles,
                allow_missing,
                seed,
                names=(labels[0], label),
            )
            for label, scored in zip(labels[1:], sets[1:], strict=True)
        }
    return paired


def _preference(sets, labels, wanted, allow_missing, seed) -> dict[str, dict[str, dict[str, Any]]]:
    base = sets[0]
    preference: dict[str, dict[str, dict[str, Any]]] = {}
    for m in wanted:
        if m in base.per_image and m in PREFERENCE_METRICS:
            preference[m] = {
                label: preference_summary(base.rows, scored.rows, m, base.styles,
                                          allow_missing, seed, names=(labels[0], label))
                for label, scored in zip(labels[1:], sets[1:], strict=True)
            }
    return preference
