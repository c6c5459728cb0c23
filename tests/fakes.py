"""Small deterministic stand-ins for backbones, for tests of the plumbing (not the numbers)."""

from __future__ import annotations

import numpy as np

from genmetrics.backbones.registry import Backbone


class PixelBackbone(Backbone):
    """Features = an 8×8 grayscale thumbnail (64-d) and 10 'logits'; counts forwards."""

    name = "inception"
    outputs = ("pool3", "logits_unbiased")

    def __init__(self, tag: str = "v1") -> None:
        self.tag = tag
        self.calls = 0
        self.images = 0
        rng = np.random.default_rng(0)
        self.proj = rng.standard_normal((64, 10)).astype(np.float32)

    @property
    def key(self) -> str:
        return f"fake-pixels/{self.tag}"

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        gray = np.asarray(Image.fromarray(image).convert("L").resize((8, 8)), np.float32)
        return gray.reshape(-1) / 255.0

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        self.images += len(batch)
        return {"pool3": batch.astype(np.float32), "logits_unbiased": batch @ self.proj}


def write_images(folder, n: int, seed: int = 0, size=(24, 32), prefix: str = "img") -> list:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        p = folder / f"{prefix}{i:03d}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


class _EveryName(dict):
    """A backbone factory table that answers every name with ``create(name, options)``."""

    def __init__(self, create, real: dict) -> None:
        super().__init__(real)
        self._create = create

    def __contains__(self, name) -> bool:
        return True

    def __getitem__(self, name):
        return lambda options: self._create(name, options)


def patch_backbones(monkeypatch, create) -> None:
    """Every backbone the pipeline builds comes from ``create(name, options)`` (which may
    call :func:`real_backbone` for the names it does not fake)."""
    from genmetrics.backbones import registry

    monkeypatch.setattr(registry, "_FACTORIES", _EveryName(create, registry._FACTORIES))


def real_backbone(name, options):
    """The registered backbone ``name`` (inside :func:`patch_backbones`)."""
    from genmetrics.backbones import registry

    return dict.__getitem__(registry._FACTORIES, name)(options)


def patch_all_backbones_in_process(bb) -> None:
    """Without pytest (child processes): every backbone name builds ``bb``."""
    from genmetrics.backbones import registry

    registry._FACTORIES = _EveryName(lambda name, options: bb, registry._FACTORIES)
