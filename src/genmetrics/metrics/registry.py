"""Metric registry. A metric is a pure function of features: it declares the backbone outputs
it needs on the generated (and reference) side and computes a :class:`MetricValue` from a
:class:`MetricContext`. It never opens files and never runs a network itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures, FeatureRequest
from genmetrics.overrides import claim


@dataclass
class MetricValue:
    """An aggregate with optional spread, interval, extras, per-image columns and warnings.

    Values stay plain floats here (NaN and infinity included); the results layer decides how
    each output format writes them.
    """

    value: float
    std: float | None = None
    ci: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)
    per_reference_image: dict[str, np.ndarray] = field(default_factory=dict)
    """Columns over the reference images (e.g. coverage's ``covered``), in reference order."""
    warnings: list[str] = field(default_factory=list)
    """What the user must know to read this number (e.g. N < D for a Fréchet distance);
    part of the result, so a cached re-run reports it too."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": float(self.value)}
        if self.std is not None:
            out["std"] = float(self.std)
        if self.ci is not None:
            out["ci95"] = [float(self.ci[0]), float(self.ci[1])]
        out.update(self.extra)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


class Services(Protocol):
    """What a run offers metrics besides features (the pipeline provides it)."""

    prompts: list[Any] | None
    """One prompt record per generated image, in feature order; ``None`` without prompts."""

    @property
    def derived(self) -> Any:
        """A memo with ``get_value(key)``/``put_value(key, value)``, or ``None``."""

    def encode_texts(self, backbone: str, texts: list[str]) -> np.ndarray: ...

    def count_truncated(self, backbone: str, texts: list[str]) -> int: ...

    def source_embeds(self, backbone: str) -> np.ndarray: ...

    def aesthetic_head(self, head_name: str, embeds: np.ndarray) -> np.ndarray: ...


class NoServices:
    """Services of a context built by hand (tests, direct calls): no prompts, no memo."""

    prompts = None
    derived = None

    def _none(self, *args: Any) -> Any:
        raise UserError("this metric needs prompts and models; run it through genmetrics.evaluate")

    encode_texts = count_truncated = source_embeds = aesthetic_head = _none


@dataclass
class MetricContext:
    """Everything a metric may read: features of both sides, options and shared services
    (e.g. ``services.encode_texts`` to embed prompts through the cache)."""

    generated: ExtractedFeatures
    reference: ExtractedFeatures | None
    options: dict[str, Any]
    services: Services = field(default_factory=NoServices)
    requested: tuple[str, ...] = ()
    """Names of all metrics asked for in this run (lets related metrics share or skip work)."""
    memo: dict[str, Any] = field(default_factory=dict)
    """Work shared between metrics of one run (e.g. the k-NN distances of PR and DC)."""

    def require_reference(self, metric: str) -> ExtractedFeatures:
        if self.reference is None:
            raise UserError(f"{metric} needs a reference set: pass --reference REAL_IMAGES")
        return self.reference


RequestFn = Callable[[dict[str, Any]], tuple[FeatureRequest, ...]]


@dataclass(frozen=True)
class MetricSpec:
    """How to compute one metric and what it needs."""

    name: str
    description: str
    compute: Callable[[MetricContext], MetricValue]
    generated: RequestFn
    reference: RequestFn = lambda options: ()
    needs_reference: bool = False
    needs_prompts: bool = False
    higher_is_better: bool = True
    min_images: int = 2
    group: str = ""
    options: tuple[str, ...] = ()
    """Names of the metric options it reads (:mod:`genmetrics.metrics.options`), for listings."""
    weights: Callable[[dict[str, Any]], tuple[str, ...]] = lambda options: ()
    """Weights it loads besides its backbones' (e.g. the aesthetic head), for listings."""


_METRICS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec, *, replace: bool = False) -> MetricSpec:
    """Add ``spec``. A name already registered is refused (:class:`UserError`) unless
    ``replace=True``; a replacement is recorded for the manifests
    (:func:`genmetrics.overrides.replacements`)."""
    claim("metric", spec.name, spec.name in _METRICS, replace, "register_metric")
    _METRICS[spec.name] = spec
    return spec


def metric_specs() -> dict[str, MetricSpec]:
    """The registered metrics (after :func:`genmetrics.catalog.load`)."""
    return dict(_METRICS)


def get_metric(name: str) -> MetricSpec:
    specs = metric_specs()
    if name not in specs:
        raise UserError(f"unknown metric '{name}'; known: {', '.join(sorted(specs))}")
    return specs[name]
