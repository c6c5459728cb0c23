"""GenMetrics: quality metrics for generative image models with declared protocols."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str):
    if name == "evaluate":
        from genmetrics.evaluation import evaluate

        return evaluate
    raise AttributeError(name)
