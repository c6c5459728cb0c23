"""Backbone registry: networks that turn images (or texts) into feature vectors.

A backbone knows nothing of metrics. It declares the outputs it always produces (all of them
are computed and cached together, so a later run asking for another output of the same network
costs no forward), a cache key that pins weights, protocol and dtype, and a manifest entry.
New backbones plug in with :func:`register_backbone`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.errors import UserError


@dataclass(frozen=True)
class BackboneOptions:
    """Run-wide settings passed to every backbone factory."""

    protocol: str = "clean"
    device: str = "cpu"
    dtype: str = "fp32"
    offline: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class Backbone(ABC):
    """An image feature extractor."""

    name: str
    outputs: tuple[str, ...]

    @property
    @abstractmethod
    def key(self) -> str:
        """Cache identity: changes whenever the features could change."""

    @abstractmethod
    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB → one network input (float32, fixed shape)."""

    @abstractmethod
    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """A stacked batch of preprocessed inputs → every output, each (B, D) float32."""

    def manifest(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key}


class TextBackbone(ABC):
    """A text encoder (for text–image metrics)."""

    name: str

    @property
    @abstractmethod
    def text_key(self) -> str: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts → (N, D) float32 embeddings."""


BackboneFactory = Callable[[BackboneOptions], Backbone]
_FACTORIES: dict[str, BackboneFactory] = {}
_REQUIRES: dict[str, tuple[str, ...]] = {}


def register_backbone(name: str, factory: BackboneFactory, requires: Sequence[str] = ()) -> None:
    """Register ``factory`` under ``name``; ``requires`` lists optional Python packages it
    needs (checked by :func:`check_backbone_available` before any work)."""
    _FACTORIES[name] = factory
    _REQUIRES[name] = tuple(requires)


def backbone_names() -> list[str]:
    """Names of the registered backbones (after :func:`genmetrics.catalog.load`)."""
    return sorted(_FACTORIES)


BackboneResolver = Callable[[str], "BackboneFactory | None"]
_RESOLVERS: list[BackboneResolver] = []


def register_backbone_resolver(resolver: BackboneResolver) -> None:
    """Add a fallback for unregistered names (e.g. a Hugging Face id or a local folder):
    ``resolver(name)`` returns a factory for ``name``, or None when it does not apply."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def _factory(name: str) -> BackboneFactory:
    if name not in _FACTORIES:
        for resolver in _RESOLVERS:
            found = resolver(name)
            if found is not None:
                register_backbone(name, found, requires=("transformers",))
                return found
        raise UserError(f"unknown backbone '{name}'; known: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name]


def check_backbone_available(name: str) -> None:
    """A :class:`UserError` naming the extra to install when ``name`` cannot be built here."""
    from genmetrics.optional import require

    _factory(name)
    for module in _REQUIRES.get(name, ()):
        require(module, f"the {name} backbone")


def create_backbone(name: str, options: BackboneOptions) -> Backbone:
    return _factory(name)(options)
