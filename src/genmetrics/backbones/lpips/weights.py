"""Pinned LPIPS weights: torchvision's ImageNet trunks and the ``lpips`` v0.1 linear heads.

* Trunks: torchvision's published state dicts (``download.pytorch.org/models``; the 8 hex
  digits in each file name are the start of its sha256). Converted once into a safetensors
  file holding the ``features.*`` tensors only, key names unchanged (the classifier is never
  used: AlexNet 233 MB → 9.8 MB, VGG16 528 MB → 56 MB).
* Heads: ``lpips/weights/v0.1/{alex,vgg,squeeze}.pth`` of richzhang/PerceptualSimilarity
  (BSD-2-Clause), the same bytes as in the ``lpips`` 0.1.4 wheel and torchmetrics'
  ``lpips_models``; converted to safetensors with the ``lin{l}.model.1.weight`` keys. The
  conversion is deterministic, so the converted files are pinned too.

Sources are read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genmetrics.weights.store import WeightSpec

__all__ = ["HEADS", "TRUNKS", "head_spec", "lpips_weight_specs", "trunk_spec"]

_TORCHVISION = "https://download.pytorch.org/models/"
_HEADS_URL = (
    "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/"
)


@dataclass(frozen=True)
class _File:
    name: str
    source: str
    sha256: str
    converted_sha256: str | None
    size: str


TRUNKS: dict[str, _File] = {
    "alex": _File(
        "torchvision-alexnet", "alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", None, "233 MB",
    ),
    "vgg": _File(
        "torchvision-vgg16", "vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", None, "528 MB",
    ),
    "squeeze": _File(
        "torchvision-squeezenet1_1", "squeezenet1_1-b8a52dc0.pth",
        "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b", None, "4.7 MB",
    ),
}

HEADS: dict[str, _File] = {
    "alex": _File(
        "lpips-v0.1-alex", "alex.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        "61025d4029d6513bbf2ef01a27956e3bc3745c84482eca78d3b9a53171a63c35", "6 kB",
    ),
    "vgg": _File(
        "lpips-v0.1-vgg", "vgg.pth",
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        "1c26fea74dc59192dd6656c0b508d5a15137449fd8eea8d4e142442ce18dde29", "7 kB",
    ),
    "squeeze": _File(
        "lpips-v0.1-squeeze", "squeeze.pth",
        "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
        "5a191af54b3b3bd24c9c49af7124b0bdf233bae28d0d9405d179cb78d82ba149", "11 kB",
    ),
}


def _convert_trunk(src: Path, dst: Path) -> dict[str, Any]:
    from genmetrics.backbones.lpips.convert import convert_trunk

    return convert_trunk(src, dst)


def _convert_head(src: Path, dst: Path) -> dict[str, Any]:
    from genmetrics.backbones.lpips.convert import convert_head

    return convert_head(src, dst)


def trunk_spec(net: str) -> WeightSpec:
    f = TRUNKS[net]
    return WeightSpec(
        name=f.name,
        filename=f"{f.name}-features.safetensors",
        sha256=f.sha256,
        description=f"torchvision {f.source} ImageNet trunk of LPIPS-{net} ({f.size}; features only)",
        url=_TORCHVISION + f.source,
        source_filename=f.source,
        license="BSD-3-Clause (torchvision)",
        convert=_convert_trunk,
        converted_sha256=f.converted_sha256,
    )


def head_spec(net: str) -> WeightSpec:
    f = HEADS[net]
    return WeightSpec(
        name=f.name,
        filename=f"{f.name}.safetensors",
        sha256=f.sha256,
        description=f"LPIPS v0.1 linear heads on {net} (richzhang/PerceptualSimilarity, {f.size})",
        url=_HEADS_URL + f.source,
        source_filename=f.source,
        license="BSD-2-Clause (PerceptualSimilarity)",
        convert=_convert_head,
        converted_sha256=f.converted_sha256,
    )


def lpips_weight_specs() -> list[WeightSpec]:
    return [spec(net) for net in TRUNKS for spec in (trunk_spec, head_spec)]
