"""Benchmark image generation with diffusers pipelines (``genmetrics generate``)."""

from __future__ import annotations

from genmetrics.generation.hooks import apply_hook, resolve_hook
from genmetrics.generation.layout import LAYOUT, MANIFEST_NAME, SETTINGS_NAME, image_relpath
from genmetrics.generation.pipeline import PipelineSource, load_pipeline, pipeline_source
from genmetrics.generation.run import GenerationResult, generate_images
from genmetrics.generation.seeds import SEED_POLICY, image_seed

__all__ = [
    "LAYOUT",
    "MANIFEST_NAME",
    "SEED_POLICY",
    "SETTINGS_NAME",
    "GenerationResult",
    "PipelineSource",
    "apply_hook",
    "generate_images",
    "image_relpath",
    "image_seed",
    "load_pipeline",
    "pipeline_source",
    "resolve_hook",
]
