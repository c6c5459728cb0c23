"""Score one image folder for a benchmark: prompt coverage, one ``evaluate`` call, styles.

* Coverage against the suite is checked before any network runs: suite prompts without an
  image and images without a suite prompt are an error listing how many and the first ids,
  unless ``allow_missing`` (then they are listed and counted, never silently dropped).
  Images that turn out unreadable are checked again after evaluation.
* Per-image metrics (a column named as the metric in the per-image rows) come from one
  ``evaluate`` call on the whole folder. A set-level metric (IS, FID…) is additionally
  evaluated on each style's images; the backbones are built once and shared by all calls,
  and the feature cache serves the repeated images without new forwards.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from genmetrics.backbones.registry import Backbone, BackboneOptions, create_backbone
from genmetrics.comparison.options import static_per_image
from genmetrics.comparison.scores import per_image_metrics, row_key, row_style
from genmetrics.devices import resolve_device
from genmetrics.errors import UserError
from genmetrics.metrics.options import default_options
from genmetrics.metrics.registry import MetricValue, get_metric
from genmetrics.pipeline.evaluate import evaluate
from genmetrics.pipeline.plan import parse_metric_names
from genmetrics.prompts.attach import prompt_id_of
from genmetrics.results.result import EvaluationResult
from genmetrics.sources.items import ImageItem, items_from
from genmetrics.suites.model import PromptSuite
from genmetrics.suites.registry import load_suite

__all__ = ["Coverage", "ScoredSet", "check_coverage", "prepare_backbones", "score_set"]

_SHOW = 5  # ids named in an error message
_BACKBONE_KEYS = ("protocol", "device", "dtype", "offline", "allow_tf32")


@dataclass
class Coverage:
    """How a folder covers a suite: prompts without image, images without prompt."""

    n_prompts: int
    missing_prompts: list[str] = field(default_factory=list)
    unmatched_images: list[str] = field(default_factory=list)
    missing_by_style: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_prompts": self.n_prompts,
            "missing_prompts": len(self.missing_prompts),
            "missing_by_style": dict(self.missing_by_style),
            "missing_prompt_ids": list(self.missing_prompts),
            "images_without_prompt": list(self.unmatched_images),
        }


def _first(ids: Sequence[str]) -> str:
    more = ", …" if len(ids) > _SHOW else ""
    return ", ".join(ids[:_SHOW]) + more


def _coverage_error(source: str, suite: PromptSuite, cov: Coverage, why: str = "") -> UserError:
    parts = []
    if cov.missing_prompts:
        parts.append(
            f"{len(cov.missing_prompts)} of {cov.n_prompts} prompts of suite '{suite.name}' have "
            f"no image{why} (first: {_first(cov.missing_prompts)})"
        )
    if cov.unmatched_images:
        parts.append(
            f"{len(cov.unmatched_images)} image(s) match no prompt of suite '{suite.name}' "
            f"(first: {_first(cov.unmatched_images)})"
        )
    return UserError(
        f"{source}: " + "; ".join(parts) + "; images go to STYLE/NNNNN.png (extra samples "
        "STYLE/NNNNN_k1.png) — add them or pass --allow-missing to list and count them"
    )


def check_coverage(
    image_ids: Sequence[str], suite: PromptSuite, allow_missing: bool, source: str
) -> Coverage:
    """Compare image ids with the suite's prompt ids (see module docstring)."""
    covered: set[str] = set()
    unmatched: list[str] = []
    for image_id in image_ids:
        pid, _ = prompt_id_of(image_id)
        try:
            suite.by_id(pid)
        except KeyError:
            unmatched.append(image_id)
            continue
        covered.add(pid)
    missing = [p.id for p in suite.items if p.id not in covered]
    by_style = dict.fromkeys(suite.styles, 0)
    for p in suite.items:
        if p.id not in covered:
            by_style[p.style] += 1
    cov = Coverage(len(suite), missing, unmatched, by_style)
    if (missing or unmatched) and not allow_missing:
        raise _coverage_error(source, suite, cov)
    return cov


def prepare_backbones(
    metrics: Sequence[str],
    supplied: dict[str, Backbone] | None,
    with_reference: bool,
    evaluate_kwargs: dict[str, Any],
) -> dict[str, Backbone]:
    """Build every backbone the metrics need once, so repeated ``evaluate`` calls share them."""
    defaults = default_options()
    opts = {**defaults, **{k: v for k, v in evaluate_kwargs.items() if k in defaults}}
    bopts = BackboneOptions(
        **{k: evaluate_kwargs[k] for k in _BACKBONE_KEYS if k in evaluate_kwargs}
    )
    bopts = replace(bopts, device=resolve_device(bopts.device))  # "auto" → cuda or cpu
    instances = dict(supplied or {})
    for name in metrics:
        spec = get_metric(name)
        requests = list(spec.generated(opts)) + (
            list(spec.reference(opts)) if with_reference else []
        )
        for r in requests:
            if r.backbone not in instances:
                instances[r.backbone] = create_backbone(r.backbone, bopts)
    return instances


@dataclass
class ScoredSet:
    """One scored folder: per-image rows, set-level values per style, coverage."""

    name: str
    source: str
    result: EvaluationResult
    rows: list[dict[str, Any]]
    styles: list[str]
    order: list[str] | None
    per_image: list[str]
    set_level: dict[str, dict[str, tuple[MetricValue | None, int]]]
    coverage: Coverage | None
    items: list[ImageItem]

    @property
    def style_of(self) -> dict[str, str]:
        """Image id → style."""
        return {str(r["id"]): row_style(r) for r in self.rows}

    @property
    def warnings(self) -> list[str]:
        """The warnings of every value, each once: per-image metrics and the set-level values
        on all images pooled as ``metric: …``; each set-level metric's per-style values folded
        into one line per kind of warning, saying on how many styles it holds
        (:func:`style_warnings`) rather than one line per style."""
        out = []
        for name, value in self.result.metrics.items():
            label = name if name in self.per_image else f"{name} (all images pooled)"
            out += [f"{label}: {w}" for w in value.warnings]
        for name, cells in self.set_level.items():
            by_style = {style: list(v.warnings) for style, (v, count) in cells.items()
                        if v is not None and count}
            out += style_warnings(name, by_style, len(by_style))
        return list(dict.fromkeys(out))

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "images": len(self.rows),
            "prompts": len({row_key(r)[0] for r in self.rows}),
            "unreadable_skipped": int(self.result.counts.get("generated_skipped", 0)),
        }
        if self.coverage is not None:
            out.update(self.coverage.to_dict())
        return out


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def style_warnings(metric: str, by_style: dict[str, list[str]], n_styles: int) -> list[str]:
    """One line per kind of warning among a set-level metric's per-style values (messages
    that differ only in their numbers are one kind; differing numbers are shown as a range),
    naming how many of the ``n_styles`` styles it concerns, e.g. ``fid per style (8 of 8
    styles): the first set has 98–100 samples but 2048 feature dims (N < D): …``."""
    kinds: dict[str, list[tuple[str, list[str]]]] = {}
    for style, messages in by_style.items():
        for message in dict.fromkeys(messages):
            kinds.setdefault(_NUMBER.sub("#", message), []).append((style, _NUMBER.findall(message)))
    out = []
    for template, seen in kinds.items():
        parts = template.split("#")
        text = parts[0]
        for i, part in enumerate(parts[1:]):
            numbers = [nums[i] for _, nums in seen]
            low = min(numbers, key=float)
            high = max(numbers, key=float)
            text += (low if float(low) == float(high) else f"{low}–{high}") + part
        styles = [style for style, _ in seen]
        which = f": {', '.join(styles)}" if len(styles) < n_styles and len(styles) <= 3 else ""
        out.append(f"{metric} per style ({len(styles)} of {n_styles} styles{which}): {text}")
    return out


def _describe(source: Any) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "in-memory images"


def _style_of(image_id: str, record: Any) -> str:
    """The style of an image: its prompt's, else the first folder of its id."""
    return row_style({"id": image_id, "style": getattr(record, "style", None)})


def score_set(
    source: Any,
    metrics: str | Sequence[str],
    suite: str | os.PathLike | None = "hpdv2",
    *,
    allow_missing: bool = False,
    reference: Any = None,
    backbones: dict[str, Backbone] | None = None,
    name: str | None = None,
    **evaluate_kwargs: Any,
) -> ScoredSet:
    """Evaluate ``source`` once for all ``metrics`` and split the result by style.

    ``suite`` is a suite name or file (the HPS v2 layout gives prompts, styles and prompt
    order), or ``None``: styles are then the first folder of each id, prompts come from
    sidecar ``.txt`` files when a metric needs them, and prompts are ordered by id.
    """
    names = parse_metric_names(metrics)
    where = _describe(source)
    items = items_from(source)
    suite_obj = load_suite(os.fspath(suite)) if suite is not None else None
    prompts = suite_obj
    coverage = None
    if suite_obj is not None:
        coverage = check_coverage([i.id for i in items], suite_obj, allow_missing, where)
    kwargs = dict(evaluate_kwargs)
    instances = prepare_backbones(names, backbones, reference is not None, kwargs)
    # set-level metrics (and any not known to be per-image) are also computed per style
    maybe_set_level = [n for n in names if static_per_image(n) is not True]
    result = evaluate(
        items,
        reference,
        names,
        prompts=prompts,
        allow_missing=allow_missing,
        backbones=instances,
        groups=_style_of if maybe_set_level else None,
        group_metrics=maybe_set_level,
        **kwargs,
    )
    rows = result.per_image
    if suite_obj is not None and coverage is not None:
        present = {row_key(r)[0] for r in rows}
        known_missing = set(coverage.missing_prompts)
        lost = [p.id for p in suite_obj.items if p.id not in present and p.id not in known_missing]
        if lost:
            cov = Coverage(len(suite_obj), lost, [], {})
            if not allow_missing:
                raise _coverage_error(where, suite_obj, cov, " that could be read")
            missing = set(coverage.missing_prompts) | set(lost)
            coverage.missing_prompts = [p.id for p in suite_obj.items if p.id in missing]
            for pid in lost:
                coverage.missing_by_style[suite_obj.by_id(pid).style] += 1
        styles = list(suite_obj.styles)
        order = [p.id for p in suite_obj.items]
    else:
        styles = list(dict.fromkeys(row_style(r) for r in rows))
        order = None
    per_image = per_image_metrics(rows, names)
    set_names = [n for n in names if n not in per_image]
    set_level: dict[str, dict[str, tuple[MetricValue | None, int]]] = {n: {} for n in set_names}
    for n in set_names:  # from the same pass: each style's slice of the per-image features
        for style in styles:
            count = sum(1 for r in rows if row_style(r) == style)
            value = result.groups.get(style, {}).get(n)
            set_level[n][style] = (value, count) if count else (None, 0)
    label = name or os.path.basename(where.rstrip("/")) or where
    return ScoredSet(
        label, where, result, rows, styles, order, per_image, set_level, coverage, items
    )
