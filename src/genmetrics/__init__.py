"""GenMetrics: quality metrics for generative image models with declared protocols.

``genmetrics.evaluate`` scores whole image sets; ``genmetrics.Evaluator`` takes batches from a
training loop. Both return an :class:`EvaluationResult` (values as :class:`MetricValue`).
Names load on first use, so ``import genmetrics`` stays light (no torch).
"""

from __future__ import annotations

from genmetrics.version import __version__

_LAZY = {
    "evaluate": ("genmetrics.pipeline.evaluate", "evaluate"),
    "Evaluator": ("genmetrics.pipeline.evaluator", "Evaluator"),
    "EvaluationResult": ("genmetrics.results.result", "EvaluationResult"),
    "MetricValue": ("genmetrics.metrics.registry", "MetricValue"),
    "UserError": ("genmetrics.errors", "UserError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genmetrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
