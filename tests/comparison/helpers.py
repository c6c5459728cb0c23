"""Fakes for the comparison tests: a per-image ``brightness`` metric on its own backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmetrics.backbones.registry import Backbone
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.registry import (
    _METRICS,
    MetricContext,
    MetricSpec,
    MetricValue,
    register_metric,
)
from tests.fakes import PixelBackbone, patch_backbones, real_backbone


class BrightnessBackbone(Backbone):
    """One feature per image: its mean pixel value (over all pixels and channels)."""

    name = "fakebright"
    outputs = ("mean",)

    def __init__(self) -> None:
        self.images = 0

    @property
    def key(self) -> str:
        return "fake-brightness/v1"

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return np.array([image.mean()], dtype=np.float32)

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.images += len(batch)
        return {"mean": batch.astype(np.float32)}


def _brightness(ctx: MetricContext) -> MetricValue:
    arr = ctx.generated.array("fakebright", "mean")[:, 0].astype(np.float64)
    return MetricValue(float(arr.mean()), per_image={"brightness": arr})


BRIGHTNESS = MetricSpec(
    "brightness",
    "mean pixel value (test metric)",
    _brightness,
    generated=lambda o: (FeatureRequest("fakebright", "mean"),),
    min_images=1,
)


@pytest.fixture
def fake_metrics(monkeypatch):
    """Registers ``brightness``; backbones ``fakebright`` and ``inception`` (pixel fake)."""
    created: dict[str, Backbone] = {}

    def create(name, options):
        if name == "fakebright":
            return created.setdefault(name, BrightnessBackbone())
        if name == "inception":
            return created.setdefault(name, PixelBackbone())
        return real_backbone(name, options)

    patch_backbones(monkeypatch, create)
    register_metric(BRIGHTNESS)
    yield created
    _METRICS.pop("brightness", None)


def write_const(path: Path, value: int, size: tuple[int, int] = (12, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)


def write_suite(path: Path, styles: dict[str, int]) -> Path:
    """A user suite file: ``{style: [prompt, ...]}`` with ``n`` prompts per style."""
    data = {s: [f"{s} prompt {i}" for i in range(n)] for s, n in styles.items()}
    path.write_text(json.dumps(data))
    return path


def value_of(style_index: int, i: int, sample: int = 0) -> int:
    """Deterministic per-image value used by the benchmark tests."""
    return 40 + 30 * style_index + (i * 7) % 13 + 3 * sample
