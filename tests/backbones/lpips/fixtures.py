"""Random LPIPS weights installed in the test's weights cache through ``weights import``."""

from __future__ import annotations

from dataclasses import replace

import torch

from genmetrics.backbones.lpips.weights import head_spec, trunk_spec
from genmetrics.weights import store
from tests.backbones.lpips.reference import random_reference


def install_random_lpips(monkeypatch, folder, net: str = "alex", seed: int = 0):
    """Save a random trunk (torchvision layout, with a classifier tensor the conversion drops)
    and heads as ``.pth`` files, pin the registered specs to their sha256 (the published pins
    cannot match random weights) and import them. Returns the reference network."""
    ref = random_reference(net, seed)
    folder.mkdir(parents=True, exist_ok=True)
    trunk = {**ref.trunk_state_dict(), "classifier.1.weight": torch.zeros(4, 3)}
    files = {"trunk": folder / f"{net}-trunk.pth", "head": folder / f"{net}-head.pth"}
    torch.save(trunk, files["trunk"])
    torch.save(ref.head_state_dict(), files["head"])
    registry = dict(store._REGISTRY)
    for kind, make in (("trunk", trunk_spec), ("head", head_spec)):
        spec = replace(make(net), sha256=store.sha256_file(files[kind]), converted_sha256=None)
        registry[spec.name] = spec
        monkeypatch.setattr(store, "_REGISTRY", registry)
        store.import_weights(spec, files[kind])
    return ref
