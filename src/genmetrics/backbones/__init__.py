"""Backbones: networks and their weights. Importing this package registers the built-ins."""

from genmetrics.backbones import builtin as _builtin  # noqa: F401
