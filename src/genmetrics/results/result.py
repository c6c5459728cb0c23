"""The result of an evaluation: aggregates, per-image table, counts and manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmetrics.metrics.registry import MetricValue
from genmetrics.results.io import output_folder, write_json, write_table
from genmetrics.results.numbers import jsonable


@dataclass
class EvaluationResult:
    metrics: dict[str, MetricValue]
    counts: dict[str, Any]
    manifest: dict[str, Any]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    groups: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    """Set-level metrics of subsets of the images (e.g. per style), from the same pass."""
    per_reference_image: list[dict[str, Any]] = field(default_factory=list)
    """One row per reference image where a metric has reference-side columns (coverage)."""

    def __getitem__(self, name: str) -> float:
        return self.metrics[name].value

    @property
    def warnings(self) -> list[str]:
        """Every metric's warnings, each once, as ``"metric: message"``."""
        seen = (f"{name}: {w}" for name, m in self.metrics.items() for w in m.warnings)
        return list(dict.fromkeys(seen))

    def to_dict(self, prefix: str | None = None) -> dict[str, Any]:
        """Plain JSON types; non-finite numbers are ``null`` with a ``*_nonfinite`` reason.

        With ``prefix`` (e.g. ``"val/"``): flat ``{prefix + name: float}`` of every metric's
        value, std and 95 % CI (``name_std``, ``name_ci_low``, ``name_ci_high``), and each
        group's as ``prefix + group/name`` — what any tracker's ``log(dict)`` takes
        (TensorBoard ``add_scalar`` per item, W&B, MLflow ``log_metrics``)."""
        if prefix is not None:
            return _scalars(prefix, self.metrics, self.groups)
        return jsonable({
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "warnings": self.warnings,
            "counts": self.counts,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "manifest": self.manifest,
        })

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``summary.json``, ``per_image.{parquet,csv}`` and, where coverage ran,
        ``per_image_reference.{parquet,csv}`` as one set: built in a temporary folder and
        renamed into place whole (see :func:`output_folder`)."""
        out = Path(out_dir)
        names = {"summary": "summary.json"}
        tables = {"per_image": self.per_image, "per_image_reference": self.per_reference_image}
        for stem, rows in tables.items():
            if rows:
                names.update({f"{stem}_parquet": f"{stem}.parquet", f"{stem}_csv": f"{stem}.csv"})
        with output_folder(out) as tmp:
            write_json(tmp / names["summary"], self.to_dict())
            for stem, rows in tables.items():
                if rows:
                    write_table(tmp / names[f"{stem}_parquet"], rows)
                    write_table(tmp / names[f"{stem}_csv"], rows)
        return {key: out / name for key, name in names.items()}


def _scalars(prefix: str, metrics: dict[str, MetricValue],
             groups: dict[str, dict[str, MetricValue]]) -> dict[str, float]:
    out: dict[str, float] = {}
    sets = [(prefix, metrics)] + [(f"{prefix}{g}/", values) for g, values in groups.items()]
    for start, values in sets:
        for name, m in values.items():
            out[f"{start}{name}"] = float(m.value)
            if m.std is not None:
                out[f"{start}{name}_std"] = float(m.std)
            if m.ci is not None:
                out[f"{start}{name}_ci_low"], out[f"{start}{name}_ci_high"] = float(m.ci[0]), float(m.ci[1])
    return out
