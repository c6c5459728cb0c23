"""Pinned DINOv2 weights: the transformers ``model.safetensors`` of ``facebook/dinov2-*`` on the
Hugging Face Hub, pinned by commit and sha256 (values read from the Hub's file pages), converted
once into an original-layout safetensors file in the cache (see :mod:`.convert`).

``facebook/dinov2-base`` is pinned by sha256 only: no full commit id of a revision holding its
``model.safetensors`` could be confirmed here, so the download follows ``main`` and the sha256
check refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genmetrics.weights.store import WeightSpec


@dataclass(frozen=True)
class Dinov2Weights:
    arch: str
    repo: str
    revision: str | None
    sha256: str
    size: str


DINOV2_WEIGHTS: dict[str, Dinov2Weights] = {
    "dinov2-vit-s14": Dinov2Weights(
        "vits14", "facebook/dinov2-small", "ed25f3a31f01632728cabb09d1542f84ab7b0056",
        "ae1e99fcefd534ed978cdeb8326f08030c96e28b7a81ffcbc98a857c84d14be1", "88 MB",
    ),
    "dinov2-vit-b14": Dinov2Weights(
        "vitb14", "facebook/dinov2-base", None,
        "d73036b56966966d07975d696bde331762f37297e2f095de8cea0040c3aa0841", "346 MB",
    ),
    "dinov2-vit-l14": Dinov2Weights(
        "vitl14", "facebook/dinov2-large", "4dc741a35f1f859959ae2dcacfb99c0d331caa6b",
        "399fba97a95f22c36834418bc69373364a99af3a1153da1c0fb31db567c92e23", "1.22 GB",
    ),
    "dinov2-vit-g14": Dinov2Weights(
        "vitg14", "facebook/dinov2-giant", "3fadae38d39209beb1d18b81fc3a79f6e664a8b8",
        "917d3c470db999d32a312f8542149be91c7cbac61ee8fb4b67ae3d82b79ce21f", "4.55 GB",
    ),
}


def _convert(src: Path, dst: Path) -> dict[str, object]:
    from genmetrics.backbones.dinov2.convert import convert_dinov2_checkpoint

    return convert_dinov2_checkpoint(src, dst)


def dinov2_weight_spec(name: str) -> WeightSpec:
    w = DINOV2_WEIGHTS[name]
    return WeightSpec(
        name=name,
        filename=f"{name}.safetensors",
        sha256=w.sha256,
        description=f"DINOv2 {w.arch} ({w.repo}, {w.size})",
        hf_repo=w.repo,
        hf_filename="model.safetensors",
        hf_revision=w.revision,
        license="Apache-2.0 (DINOv2)",
        convert=_convert,
        outputs=("cls",),
    )


def dinov2_weight_specs() -> list[WeightSpec]:
    return [dinov2_weight_spec(n) for n in DINOV2_WEIGHTS]
