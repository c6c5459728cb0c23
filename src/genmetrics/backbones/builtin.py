"""Registers the built-in backbones and their weights."""

from __future__ import annotations

from genmetrics.backbones.clip import backbone as clip_backbone
from genmetrics.backbones.inception import backbone as inception_backbone

inception_backbone.register()
clip_backbone.register()
