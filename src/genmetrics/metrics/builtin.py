"""Registers the built-in metrics (imported by :func:`metric_specs`)."""

from __future__ import annotations

from genmetrics.metrics import distribution, text_image

distribution.register()
text_image.register()
