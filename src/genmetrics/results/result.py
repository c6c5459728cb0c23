"""The result of an evaluation: aggregates, per-image table, counts and manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmetrics.metrics.registry import MetricValue
from genmetrics.results.io import write_json, write_table


@dataclass
class EvaluationResult:
    metrics: dict[str, MetricValue]
    counts: dict[str, Any]
    manifest: dict[str, Any]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __getitem__(self, name: str) -> float:
        return self.metrics[name].value

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "counts": self.counts,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "manifest": self.manifest,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``summary.json``, ``per_image.parquet`` and ``per_image.csv`` atomically."""
        out = Path(out_dir)
        paths = {"summary": write_json(out / "summary.json", self.to_dict())}
        if self.per_image:
            paths["per_image_parquet"] = write_table(out / "per_image.parquet", self.per_image)
            paths["per_image_csv"] = write_table(out / "per_image.csv", self.per_image)
        return paths
