"""What metrics may ask of the run besides features: prompts, text embeddings through the
cache, source-image embeddings, aesthetic heads, and a memo of derived numbers.

One small typed object instead of closures: every service is a method, the object holds only
settings, backbones and prompt records, and its open cache connection is dropped when pickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone
from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.features.extract import FeatureRequest, encode_texts_cached, extract_features
from genmetrics.sources.items import ImageItem


@dataclass
class MetricServices:
    """Services of one evaluation (see :class:`genmetrics.metrics.registry.MetricContext`)."""

    backbones: dict[str, Backbone] = field(default_factory=dict)
    prompts: list[Any] | None = None
    """One prompt record per generated image (in feature order), when prompts are attached."""
    generated_source: Any = None
    store: FeatureCache | None = None
    device: str = "cpu"
    offline: bool | None = None
    batch_size: int = 32
    workers: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["store"] = None  # an open SQLite connection stays in its process
        return state

    @property
    def derived(self) -> FeatureCache | None:
        """``get_value``/``put_value``: numbers derived from content, reused across runs."""
        return self.store

    def encode_texts(self, backbone: str, texts: list[str]) -> np.ndarray:
        """Text embeddings of ``backbone`` (each distinct text once, through the cache)."""
        return encode_texts_cached(self.backbones[backbone], texts, self.store)  # type: ignore[arg-type]

    def count_truncated(self, backbone: str, texts: list[str]) -> int:
        counter = getattr(self.backbones[backbone], "count_truncated", None)
        return int(counter(texts)) if counter else 0

    def aesthetic_head(self, head_name: str, embeds: np.ndarray) -> np.ndarray:
        import torch

        from genmetrics.backbones.aesthetic import aesthetic_score, load_aesthetic_head

        head = load_aesthetic_head(head_name, device=self.device, offline=self.offline)
        return aesthetic_score(torch.from_numpy(np.asarray(embeds, np.float32)), head).double().cpu().numpy()

    def source_embeds(self, backbone: str) -> np.ndarray:
        """Embeddings of each edited image's source image (manifest field ``source_image``,
        relative to the generated folder), one forward per distinct source."""
        src = self.generated_source
        is_dir = isinstance(src, (str, os.PathLike)) and Path(src).is_dir()
        base = Path(src) if is_dir else Path(".")
        paths = []
        for rec in self.prompts or []:
            name = rec.get("source_image")
            if name is None:
                raise UserError("clip_directional/clip_image_similarity need 'source_image' for every row of the --prompts manifest")
            path = Path(name) if Path(name).is_absolute() else base / name
            if not path.is_file():
                raise UserError(f"{path}: source image named in the manifest does not exist")
            paths.append(path)
        unique = list(dict.fromkeys(paths))
        items = [ImageItem(f"source/{i}", str(p), (lambda p=p: p.read_bytes())) for i, p in enumerate(unique)]
        bb = self.backbones[backbone]
        feats = extract_features(items, {bb.name: bb}, [FeatureRequest(bb.name, "embed")],
                                 cache=self.store, batch_size=self.batch_size,
                                 workers=self.workers, strict=True)
        row_of = {p: i for i, p in enumerate(unique)}
        return feats.array(bb.name, "embed")[[row_of[p] for p in paths]]
