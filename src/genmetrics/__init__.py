"""GenMetrics: quality metrics for generative image models with declared protocols."""

from __future__ import annotations

from genmetrics.version import __version__

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str):
    if name == "evaluate":
        from genmetrics.pipeline.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
