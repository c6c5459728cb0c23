"""Backbones: networks that turn images (or texts) into features, and their weights.

Nothing registers at import; :func:`genmetrics.catalog.load` fills the registry.
"""
