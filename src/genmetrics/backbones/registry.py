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
from genmetrics.overrides import claim


@dataclass(frozen=True)
class BackboneOptions:
    """Run-wide settings passed to every backbone factory."""

    protocol: str = "clean"
    device: str = "cpu"
    dtype: str = "fp32"
    offline: bool | None = None
    allow_tf32: bool = False
    """Let float32 convolutions and matmuls run in TF32 on CUDA (faster, less exact)."""
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
        """A collated batch of preprocessed inputs → every output, each (B, D) float32."""

    def collate(self, inputs: list) -> Any:
        """Preprocessed inputs of one batch → what :meth:`forward` takes (default: stacked)."""
        return np.stack(inputs)

    @property
    def device_type(self) -> str:
        """Where the network runs: ``cpu``, ``cuda``, ``mps`` (default: from a ``device``
        attribute, or its ``encoder``'s). A backbone that can tell without importing torch
        overrides it, so a fully cached run stays light."""
        device = getattr(self, "device", None)
        if device is None and hasattr(self, "encoder"):
            device = getattr(self.encoder, "device", None)
        return str(device or "cpu").split(":")[0]

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


@dataclass(frozen=True)
class BackboneInfo:
    """What a backbone needs, declared when it registers (read by listings and by
    :func:`check_backbone_available`); nothing here loads a network or imports torch."""

    requires: tuple[str, ...] = ()
    """Optional Python packages (top-level modules) the factory needs."""
    weights: tuple[str, ...] = ()
    """Its weights: names in the weights registry (``genmetrics weights list``), or Hugging
    Face ids (``owner/name``) read from the user's Hugging Face cache."""
    extra: str | None = None
    """The genmetrics extra that installs ``requires`` (default: :data:`genmetrics.optional.EXTRAS`)."""


_INFO: dict[str, BackboneInfo] = {}


def register_backbone(
    name: str,
    factory: BackboneFactory,
    requires: Sequence[str] = (),
    *,
    weights: Sequence[str] = (),
    extra: str | None = None,
    replace: bool = False,
) -> None:
    """Register ``factory`` under ``name``. ``requires`` lists optional Python packages it
    needs (checked by :func:`check_backbone_available` before any work), ``weights`` what it
    loads, ``extra`` the genmetrics extra that installs ``requires``. Keep registration cheap:
    the factory imports the network code when it is called.

    A name already registered is refused (:class:`UserError`) unless ``replace=True``; a
    replacement is recorded (:func:`genmetrics.overrides.replacements`) for the manifests."""
    claim("backbone", name, dict.__contains__(_FACTORIES, name), replace, "register_backbone")
    _FACTORIES[name] = factory
    _INFO[name] = BackboneInfo(tuple(requires), tuple(weights), extra)


def backbone_names() -> list[str]:
    """Names of the registered backbones (after :func:`genmetrics.catalog.load`)."""
    return sorted(_FACTORIES)


def backbone_info(name: str) -> BackboneInfo:
    """What ``name`` declared when it registered (empty for names resolved on the fly)."""
    return _INFO.get(name, BackboneInfo())


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
                _FACTORIES[name] = found
                _INFO[name] = BackboneInfo(("transformers",), (name,))
                return found
        raise UserError(f"unknown backbone '{name}'; known: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name]


def check_backbone_available(name: str) -> None:
    """A :class:`UserError` naming the extra to install when ``name`` cannot be built here."""
    from genmetrics.optional import require

    _factory(name)
    info = backbone_info(name)
    for module in info.requires:
        require(module, f"the {name} backbone", extra=info.extra)


def create_backbone(name: str, options: BackboneOptions) -> Backbone:
    return _factory(name)(options)
