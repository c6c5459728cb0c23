"""A genmetrics plugin for benchmarks without real weights: ``inception`` is the real FID
Inception architecture with random (He-initialised) weights from the safetensors file named by
``GENMETRICS_BENCH_INCEPTION`` (written by :func:`write_random_weights`)."""

from __future__ import annotations

import os
from pathlib import Path


def write_random_weights(path: Path, seed: int = 0) -> Path:
    import torch
    from safetensors.torch import save_file

    from genmetrics.backbones.inception.network import FIDInceptionV3

    torch.manual_seed(seed)
    net = FIDInceptionV3(has_fc=True)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path


def register() -> None:
    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.registry import register_backbone

    path = os.environ["GENMETRICS_BENCH_INCEPTION"]
    register_backbone("inception", lambda options: InceptionBackbone(options, weights_path=path),
                      replace=True)
