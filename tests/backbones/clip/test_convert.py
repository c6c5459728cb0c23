"""Conversion parity: original-layout CLIP (plain-torch re-statement) vs our transformers model."""

from __future__ import annotations

import pytest
import torch

from genmetrics.backbones.clip.configs import EOT_ID, clip_config, tiny_arch
from genmetrics.backbones.clip.convert import (
    convert_clip_checkpoint,
    load_checkpoint_state_dict,
    openai_to_hf,
)
from genmetrics.backbones.clip.model import ClipEncoder
from genmetrics.backbones.clip.tokenizer import tokenize
from genmetrics.errors import UserError
from genmetrics.weights.torchscript import read_torchscript_tensors
from tests.backbones.clip.reference import ReferenceCLIP, randomize

pytest.importorskip("transformers")

TOL = 1e-5


def _inputs(arch, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randn(3, 3, arch.image_size, arch.image_size, generator=gen)
    ids = torch.zeros(4, arch.context_length, dtype=torch.long)
    for row, length in enumerate((5, 17, 40, arch.context_length)):
        ids[row, 0] = EOT_ID - 1
        ids[row, 1 : length - 1] = torch.randint(1, EOT_ID - 1, (length - 2,), generator=gen)
        ids[row, length - 1] = EOT_ID
    return pixels, ids


def _max_diffs(ref: ReferenceCLIP, ours: ClipEncoder, arch) -> tuple[float, float]:
    pixels, ids = _inputs(arch)
    with torch.no_grad():
        img = (ref.encode_image(pixels) - ours.encode_image(pixels)).abs().max().item()
        txt = (ref.encode_text(ids) - ours.encode_text(ids)).abs().max().item()
    return img, txt


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
def test_converted_weights_match_reference(act: str) -> None:
    arch = tiny_arch(act=act)
    ref = randomize(ReferenceCLIP(arch))
    ours = ClipEncoder.from_state_dict(arch, openai_to_hf(ref.state_dict()))
    img, txt = _max_diffs(ref, ours, arch)
    assert img <= TOL and txt <= TOL, (img, txt)
    # the embeddings are not trivially small
    with torch.no_grad():
        assert ref.encode_image(_inputs(arch)[0]).abs().max() > 0.1


def test_wrong_activation_is_detected() -> None:
    """The parity test can fail: GELU vs QuickGELU differ well beyond the tolerance."""
    ref = randomize(ReferenceCLIP(tiny_arch(act="gelu")))
    ours = ClipEncoder.from_state_dict(tiny_arch(act="quick_gelu"), openai_to_hf(ref.state_dict()))
    img, txt = _max_diffs(ref, ours, tiny_arch())
    assert max(img, txt) > 1e-3


def test_text_pools_at_end_token_like_transformers() -> None:
    arch = tiny_arch()
    assert clip_config(arch).text_config.eos_token_id == EOT_ID
    ours = ClipEncoder.random(arch)
    ids, truncated = tokenize(["a photo of a cat", "two dogs, 3 birds!", "word " * 100])
    assert truncated == [False, False, True]
    with torch.no_grad():
        theirs = ours.model.get_text_features(input_ids=ids)
        theirs = theirs if isinstance(theirs, torch.Tensor) else theirs.pooler_output
        assert (ours.encode_text(ids) - theirs).abs().max() <= TOL


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_checkpoint_forms(tmp_path) -> None:
    """fp16 pickle wrapped in {'state_dict'} with 'module.' prefixes, and a TorchScript archive."""
    arch = tiny_arch()
    ref = randomize(ReferenceCLIP(arch))
    wrapped = {"state_dict": {f"module.{k}": v.half() for k, v in ref.state_dict().items()}}
    torch.save(wrapped, tmp_path / "hps_like.pt")
    loaded = load_checkpoint_state_dict(tmp_path / "hps_like.pt")
    assert set(loaded) == set(ref.state_dict())
    assert all(v.dtype == torch.float16 for v in loaded.values())
    ours = ClipEncoder.from_state_dict(arch, openai_to_hf(loaded))
    ref_half = randomize(ReferenceCLIP(arch))
    ref_half.load_state_dict({k: v.float() for k, v in loaded.items()})
    img, txt = _max_diffs(ref_half, ours, arch)
    assert img <= TOL and txt <= TOL

    pixels, ids = _inputs(arch)
    traced = torch.jit.trace(ref, (pixels, ids), check_trace=False)
    traced.save(str(tmp_path / "openai_like.pt"))
    script_sd = read_torchscript_tensors(tmp_path / "openai_like.pt")
    assert set(script_sd) == set(ref.state_dict())
    assert all(torch.equal(script_sd[k], v) for k, v in ref.state_dict().items())

    convert_clip_checkpoint(tmp_path / "openai_like.pt", tmp_path / "converted.safetensors")
    from safetensors.torch import load_file

    ours = ClipEncoder.from_state_dict(arch, load_file(str(tmp_path / "converted.safetensors")))
    img, txt = _max_diffs(ref, ours, arch)
    assert img <= TOL and txt <= TOL


def test_torchscript_reader_refuses_foreign_globals(tmp_path) -> None:
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps(Evil()))
        z.writestr("evil/constants.pkl", pickle.dumps(()))
    with pytest.raises(UserError, match="refusing"):
        load_checkpoint_state_dict(tmp_path / "evil.pt")


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(UserError, match="unexpected CLIP checkpoint key"):
        openai_to_hf({"visual.attnpool.k_proj.weight": torch.zeros(1)})
