"""DINOv2 on transformers' Dinov2Model equals the original layout's forward (tiny random
weights, original key layout → our converter → transformers), preprocessing, weights specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("transformers")

from genmetrics.backbones.dinov2.backbone import Dinov2Backbone, build_model  # noqa: E402
from genmetrics.backbones.dinov2.configs import ARCHS, tiny_arch  # noqa: E402
from genmetrics.backbones.dinov2.convert import (  # noqa: E402
    convert_dinov2_checkpoint,
    from_transformers,
    read_checkpoint,
    to_original,
    to_transformers,
)
from genmetrics.backbones.dinov2.preprocess import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    dinov2_preprocess,
)
from genmetrics.backbones.dinov2.weights import DINOV2_WEIGHTS, dinov2_weight_spec  # noqa: E402
from genmetrics.backbones.feed import DeviceFeed  # noqa: E402
from genmetrics.errors import UserError  # noqa: E402

from .reference import dinov2_cls, random_original_state_dict  # noqa: E402


@pytest.fixture(params=[False, True], ids=["mlp", "swiglu"])
def tiny(request):
    arch = tiny_arch(swiglu=request.param)
    sd = random_original_state_dict(arch.hidden_size, arch.layers, arch.swiglu, arch.mlp_hidden)
    return arch, sd


@pytest.mark.parametrize("size", [224, 518, 252])
def test_transformers_model_equals_original_layout(tiny, size):
    arch, sd = tiny
    model = build_model(arch, sd)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    ours = model(pixel_values=x).pooler_output
    ref = dinov2_cls(sd, x, arch.heads)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_backbone_forward_and_manifest(tiny):
    arch, sd = tiny
    bb = Dinov2Backbone("dinov2-vit-l14", arch, build_model(arch, sd), "ab" * 32)
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    batch = np.stack([bb.preprocess(img), bb.preprocess(img[::-1].copy())])
    assert batch.dtype == np.uint8 and batch.shape[1:] == (224, 224, 3)  # normalised on the device
    host = np.stack([dinov2_preprocess(img), dinov2_preprocess(img[::-1].copy())])
    on_device = DeviceFeed("cpu").normalized(batch, IMAGENET_MEAN, IMAGENET_STD).numpy()
    np.testing.assert_array_equal(on_device, host)  # the same float32 operations
    out = bb.forward(batch)["cls"]
    ref = dinov2_cls(sd, torch.from_numpy(host), arch.heads).numpy()
    assert out.shape == (2, arch.hidden_size) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    m = bb.manifest()
    assert m["weights_sha256"] == "ab" * 32 and "dgm-eval" in m["preprocess"]
    assert bb.key.startswith("dinov2-vit-l14/abababababababab/dgm-eval-bicubic224/fp32/")


def test_lazy_model_is_built_on_first_forward(tiny):
    arch, sd = tiny
    calls = []

    def load():
        calls.append(1)
        return build_model(arch, sd)

    bb = Dinov2Backbone("dinov2-vit-s14", arch, load, "cd" * 32)
    assert not calls and bb.key  # key and manifest need no network
    bb.forward(np.zeros((1, 224, 224, 3), np.uint8))
    bb.forward(np.zeros((1, 224, 224, 3), np.uint8))
    assert calls == [1]


@pytest.mark.parametrize("style", ["v4", "v5"])
def test_key_mapping_round_trips(tiny, style):
    arch, sd = tiny
    back = from_transformers(to_transformers(sd, style))
    assert set(back) == set(sd)
    for k in sd:
        torch.testing.assert_close(back[k], sd[k], rtol=0, atol=0)


def test_checkpoint_forms_convert_to_the_same_file(tiny, tmp_path):
    arch, sd = tiny
    torch.save(sd, tmp_path / "orig.pth")
    chunked = {k.replace("blocks.", "blocks.0.", 1) if k.startswith("blocks.") else k: v
               for k, v in sd.items()}
    torch.save({"model": chunked}, tmp_path / "chunked.pth")
    from safetensors.torch import save_file

    hf = {"dinov2." + k if not k.startswith("layernorm") else k: v.contiguous()
          for k, v in to_transformers(sd, "v4").items()}
    save_file(hf, str(tmp_path / "hf.safetensors"))
    outs = []
    for name in ("orig.pth", "chunked.pth", "hf.safetensors"):
        convert_dinov2_checkpoint(tmp_path / name, tmp_path / f"{name}.out")
        outs.append(read_checkpoint(tmp_path / f"{name}.out"))
    for other in outs[1:]:
        assert set(other) == set(outs[0])
        for k in outs[0]:
            torch.testing.assert_close(other[k], outs[0][k], rtol=0, atol=0)
    with pytest.raises(UserError, match="registers"):
        to_original({**sd, "register_tokens": torch.zeros(1, 4, 32)})


def test_preprocess_follows_dgm_eval():
    img = np.random.default_rng(1).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    resized = np.asarray(Image.fromarray(img).resize((224, 224), Image.BICUBIC), np.float32) / 255
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    ref = ((resized - mean.astype(np.float32)) / std.astype(np.float32)).transpose(2, 0, 1)
    out = dinov2_preprocess(img)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


def test_weight_specs_are_pinned():
    for name, w in DINOV2_WEIGHTS.items():
        spec = dinov2_weight_spec(name)
        assert len(spec.sha256) == 64 and spec.hf_filename == "model.safetensors"
        assert spec.hf_repo.startswith("facebook/dinov2-") and w.arch in ARCHS
        assert w.revision is None or len(w.revision) == 40
