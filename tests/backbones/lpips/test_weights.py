"""LPIPS weights: pins, conversion, import, offline errors, the loader."""

import numpy as np
import pytest
import torch

from genmetrics.backbones.lpips.load import load_lpips
from genmetrics.backbones.lpips.weights import HEADS, TRUNKS, head_spec, trunk_spec
from genmetrics.errors import MissingWeightsError, UserError, WeightsHashError
from genmetrics.metrics.functional.lpips import lpips
from genmetrics.weights import store
from tests.backbones.lpips.fixtures import install_random_lpips
from tests.backbones.lpips.reference import im2tensor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registered_specs_are_pinned():
    specs = store.weight_specs()
    for net in ("alex", "vgg", "squeeze"):
        trunk, head = specs[TRUNKS[net].name], specs[HEADS[net].name]
        assert trunk.url.startswith("https://download.pytorch.org/models/")
        assert trunk.sha256.startswith(trunk.url.rsplit("-", 1)[1].split(".")[0])  # torchvision's prefix
        assert head.url.endswith(f"/lpips/weights/v0.1/{net}.pth") and len(head.converted_sha256) == 64


def test_published_heads_convert_to_the_pinned_files(tmp_path):
    tm = pytest.importorskip("torchmetrics")
    from pathlib import Path

    folder = Path(tm.__file__).parent / "functional" / "image" / "lpips_models"
    for net in ("alex", "vgg", "squeeze"):
        src = folder / f"{net}.pth"
        if not src.exists():
            pytest.skip("torchmetrics ships no lpips_models")
        assert store.sha256_file(src) == HEADS[net].sha256
        result = store.import_weights(head_spec(net), src)  # converted, checked against the pin
        assert result.record["sha256"] == HEADS[net].converted_sha256


def test_imported_random_weights_load_and_score(tmp_path, monkeypatch):
    ref = install_random_lpips(monkeypatch, tmp_path / "w", "squeeze", seed=3)
    model, info = load_lpips("squeeze", offline=True)
    assert info["trunk_weights"] == "torchvision-squeezenet1_1" and len(info["head_sha256"]) == 64
    cached = store.weight_specs()["torchvision-squeezenet1_1"].cached_path()
    from safetensors.torch import load_file

    assert not [k for k in load_file(str(cached)) if not k.startswith("features.")]
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (41, 39, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (41, 39, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = float(ref(im2tensor(a), im2tensor(b)).flatten()[0])
    assert abs(lpips(model, a, b) - expected) <= 1e-6
    cached.write_bytes(cached.read_bytes()[:-4] + b"\0\0\0\0")  # a changed file is refused
    with pytest.raises(WeightsHashError):
        load_lpips("squeeze", offline=True)


def test_offline_missing_and_wrong_files(tmp_path):
    with pytest.raises(MissingWeightsError, match="genmetrics weights import torchvision-vgg16 PATH"):
        load_lpips("vgg", offline=True)
    bogus = tmp_path / "x.pth"
    torch.save({"features.0.weight": torch.zeros(2, 2)}, bogus)
    with pytest.raises(WeightsHashError, match="not a known form of 'torchvision-alexnet'"):
        store.import_weights(trunk_spec("alex"), bogus)
    from genmetrics.backbones.lpips.convert import convert_trunk

    with pytest.raises(UserError, match="no AlexNet, VGG16 or SqueezeNet"):
        convert_trunk(bogus, tmp_path / "out.safetensors")
