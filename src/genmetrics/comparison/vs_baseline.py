"""Distribution distance of each variant to the baseline's own images (``--vs-baseline``).

DistriFusion reports the FID of the accelerated model's images against the original model's
images; ``compare … --vs-baseline fid,kid,fd_dinov2`` does this for every variant and any
metric that compares a set with a reference set. One ``evaluate`` call does it all: the
baseline's images are the reference (extracted once), the variants' images the generated
side, each variant a group (:func:`genmetrics.pipeline.evaluate.evaluate`'s ``groups``), so
each value comes from slicing the same pass. The backbones are the comparison's, and the
feature cache already holds every image from scoring the folders, so no network runs again
(with ``--no-cache`` the images are read a second time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from genmetrics.backbones.registry import Backbone
from genmetrics.comparison.options import static_per_image
from genmetrics.comparison.scoring import ScoredSet
from genmetrics.errors import UserError
from genmetrics.metrics.options import default_options
from genmetrics.metrics.registry import MetricValue, get_metric, metric_specs
from genmetrics.pipeline.evaluate import evaluate
from genmetrics.pipeline.plan import parse_metric_names

__all__ = ["parse_vs_baseline", "vs_baseline_values"]


def parse_vs_baseline(names: str | Iterable[str] | None) -> list[str]:
    """Metric names that compare a set with a reference set (fid, kid, fd_dinov2, cmmd…)."""
    if names is None:
        return []
    wanted = parse_metric_names(names)
    choices = [n for n in sorted(metric_specs()) if _set_distance(n)]
    for name in wanted:
        if name not in metric_specs() or not _set_distance(name):
            raise UserError(
                f"--vs-baseline {name}: not a distance between image sets; choose from "
                f"{', '.join(choices)}"
            )
    return wanted


def _set_distance(name: str) -> bool:
    """A set-level metric that compares the generated set with a reference set."""
    spec = get_metric(name)
    uses_reference = spec.needs_reference or bool(spec.reference(default_options()))
    return uses_reference and static_per_image(name) is not True


def vs_baseline_values(
    base: ScoredSet,
    variants: Sequence[ScoredSet],
    labels: Sequence[str],
    metrics: Sequence[str],
    backbones: dict[str, Backbone],
    **evaluate_kwargs: Any,
) -> dict[str, dict[str, MetricValue]]:
    """``{metric: {variant label: value}}``, each variant's images against the baseline's."""
    generated = []
    groups: dict[str, list[str]] = {}
    for index, (label, scored) in enumerate(zip(labels, variants, strict=True)):
        ids = []
        for item in scored.items:
            new_id = f"{index}/{item.id}"
            generated.append(replace(item, id=new_id))
            ids.append(new_id)
        groups[label] = ids
    kwargs = {k: v for k, v in evaluate_kwargs.items() if k not in ("prompts", "allow_missing")}
    result = evaluate(
        generated,
        list(base.items),
        list(metrics),
        backbones=backbones,
        groups=groups if len(variants) > 1 else None,
        group_metrics=list(metrics),
        **kwargs,
    )
    if len(variants) == 1:
        return {m: {labels[0]: result.metrics[m]} for m in metrics}
    return {m: {label: result.groups[label][m] for label in labels} for m in metrics}
