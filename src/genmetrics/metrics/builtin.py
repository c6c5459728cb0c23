"""Registers the built-in metrics (imported by :func:`metric_specs`)."""

from __future__ import annotations

from typing import Any

from genmetrics.errors import UserError
from genmetrics.metrics import distribution, text_image

distribution.register()
text_image.register()

DEFAULT_OPTIONS = {**distribution.DEFAULT_OPTIONS, **text_image.DEFAULT_OPTIONS}
"""Every metric option and its default (one source of truth for evaluate and the CLI)."""


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Every option known and in range, merged over the defaults; a :class:`UserError`
    names the first bad one (as its CLI flag) before any work starts."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise UserError(f"unknown option(s): {', '.join(unknown)}")
    merged = {**DEFAULT_OPTIONS, **options}
    for name, low in distribution.OPTION_MINIMUMS.items():
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            flag = "--" + name.replace("_", "-")
            raise UserError(f"{flag} must be an integer of at least {low}, got {value!r}")
    return merged
