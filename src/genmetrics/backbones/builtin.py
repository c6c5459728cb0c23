"""Registers the built-in backbones and their weights."""

from __future__ import annotations

from genmetrics.backbones.inception import backbone as inception_backbone

inception_backbone.register()
