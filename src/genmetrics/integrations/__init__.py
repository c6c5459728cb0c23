"""Hooks into training frameworks, each importable without the framework installed:
:mod:`genmetrics.integrations.lightning` (a PyTorch Lightning callback). Plain loops
(accelerate, diffusers' training scripts) use :class:`genmetrics.Evaluator` directly."""
