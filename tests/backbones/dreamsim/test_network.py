"""DreamSim equals a re-statement of the reference forward with the same random weights."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from genmetrics.backbones.dreamsim.load import branch_states
from genmetrics.backbones.dreamsim.network import DreamSimNetwork, ViTSize, dreamsim_input
from tests.backbones.dreamsim.reference import preprocess, random_reference

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    return a, b


def test_preprocessing_is_the_references():
    a, _ = _images()
    np.testing.assert_array_equal(dreamsim_input(a)[None], preprocess(a).numpy())


def _zip_of(ref, kind, tmp_path):
    """The reference's weights packed as the published checkpoint zip."""
    states, lora = ref.branch_state_dicts()
    tag = "ensemble" if kind == "ensemble" else f"{kind}_single"
    path = tmp_path / f"dreamsim_{kind}_checkpoint.zip"
    dino = None
    with zipfile.ZipFile(path, "w") as zf:
        for name, state in zip(ref.model_list, states, strict=True):
            if name.startswith("dino"):
                dino = {**state, "head.weight": torch.zeros(2)}
                continue
            buf = io.BytesIO()
            torch.save({"state_dict": state}, buf)
            zf.writestr(f"models/{name}_pretrain.pth.tar", buf.getvalue())
        buf = io.BytesIO()
        torch.save(lora, buf)
        zf.writestr(f"models/{tag}_lora/adapter_model.bin", buf.getvalue())
        zf.writestr(f"models/{tag}_lora/adapter_config.json",
                    json.dumps({"r": 16, "lora_alpha": 8, "target_modules": ["qkv"]}))
    return path, dino


@pytest.mark.parametrize("kind", ["ensemble", "dino_vitb16", "clip_vitb32", "open_clip_vitb32"])
def test_equals_the_reference_forward(kind, tmp_path):
    ref = random_reference(kind, seed=1)
    path, dino = _zip_of(ref, kind, tmp_path)
    size = ViTSize(width=64, depth=12, heads=4, mlp=256, embed=32)
    ours = DreamSimNetwork.from_state_dicts(kind, branch_states(kind, path, dino), size)
    a, b = _images()
    with torch.no_grad():
        expected = float(ref(preprocess(a), preprocess(b))[0])
        got = float(ours(torch.from_numpy(dreamsim_input(a))[None], torch.from_numpy(dreamsim_input(b))[None])[0])
    assert expected > 1e-3
    assert abs(got - expected) <= 1e-5, (kind, got, expected)


def test_pair_command_with_vouched_weights(tmp_path, monkeypatch, capsys, _isolated_home):
    """The published layout end to end: the zip in the weights folder, its sha256 vouched for."""
    from PIL import Image

    from genmetrics.cli.app import main
    from genmetrics.weights.store import sha256_file

    ref = random_reference("clip_vitb32", seed=4, dim=64, heads=1, embed=32)
    folder = _isolated_home / "weights" / "dreamsim"
    folder.mkdir(parents=True)
    path, _ = _zip_of(ref, "clip_vitb32", folder)
    a, b = _images(3)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    args = ["pair", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--metrics", "dreamsim",
            "--dreamsim-type", "clip_vitb32", "--format", "json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set GENMETRICS_DREAMSIM_SHA256" in err
    monkeypatch.setenv("GENMETRICS_DREAMSIM_SHA256", "0" * 64)
    assert main(args) == 2 and "is not the 000" in capsys.readouterr().err
    monkeypatch.setenv("GENMETRICS_DREAMSIM_SHA256", sha256_file(path))
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    with torch.no_grad():
        expected = float(ref(preprocess(a), preprocess(b))[0])
    value = doc["metrics"]["dreamsim"]
    assert abs(value["value"] - expected) <= 1e-5 and value["higher_is_better"] is False
    assert value["options"] == {"type": "clip_vitb32"}
    assert doc["protocols"]["dreamsim"]["checkpoint_sha256"] == sha256_file(path)
    assert main([*args[:-2], "--metrics", "psnr", "--dreamsim-type", "ensemble"]) == 2
    assert "--dreamsim-type does not apply: add dreamsim to --metrics" in capsys.readouterr().err
