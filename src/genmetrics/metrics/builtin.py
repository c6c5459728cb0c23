"""Registers the built-in metrics (imported by :func:`metric_specs`)."""

from __future__ import annotations

from genmetrics.metrics import distribution, text_image

distribution.register()
text_image.register()

DEFAULT_OPTIONS = {**distribution.DEFAULT_OPTIONS, **text_image.DEFAULT_OPTIONS}
"""Every metric option and its default (one source of truth for evaluate and the CLI)."""
