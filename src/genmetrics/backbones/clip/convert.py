"""Checkpoint reading and conversion of OpenAI CLIP / open_clip ViT state dicts to transformers.

Source key scheme (OpenAI ``clip`` and open_clip ViTs, e.g. ViT-H-14 and the HPS v2 files)::

    visual.{conv1.weight, class_embedding, positional_embedding, ln_pre, ln_post, proj}
    visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj, ln_2,
                                    mlp.c_fc, mlp.c_proj}
    token_embedding.weight, positional_embedding, transformer.resblocks.N..., ln_final,
    text_projection, logit_scale

``in_proj`` packs q, k, v along its first axis; ``proj``/``text_projection`` are
``width × embed`` matrices applied as ``x @ P``, so transformers' Linear weights are ``P.T``.
Tensors keep their stored dtype (OpenAI and HPS files are fp16); the model casts on load.

Reading never unpickles arbitrary code: plain pickles go through ``torch.load(weights_only=True)``;
TorchScript archives (OpenAI's official ``.pt`` files) are read by a restricted unpickler that
only rebuilds tensors and treats TorchScript objects as inert attribute bags.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from genmetrics.errors import UserError
from genmetrics.weights.torchscript import is_torchscript, read_torchscript_tensors

# Tensors of the source that carry no weights: attention masks, OpenAI JIT metadata.
_IGNORED = ("attn_mask", "input_resolution", "context_length", "vocab_size")

_BLOCK = {
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}

_TOP = {
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}

_TRANSPOSED = {
    "visual.proj": "visual_projection.weight",
    "text_projection": "text_projection.weight",
}


def _block_keys(key: str) -> tuple[str, str] | None:
    """``visual.transformer.resblocks.3.ln_1.weight`` → (``vision_model.encoder.layers.3.``, rest)."""
    for src, dst in (
        ("visual.transformer.resblocks.", "vision_model.encoder.layers."),
        ("transformer.resblocks.", "text_model.encoder.layers."),
    ):
        if key.startswith(src):
            index, rest = key[len(src) :].split(".", 1)
            return f"{dst}{index}.", rest
    return None


def openai_to_hf(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenAI-CLIP / open_clip ViT state dict → transformers ``CLIPModel`` state dict."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.split(".")[-1] in _IGNORED:
            continue
        if key in _TOP:
            out[_TOP[key]] = value
        elif key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = value.t()
        elif (split := _block_keys(key)) is not None:
            prefix, rest = split
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = rest.rsplit("_", 1)[1]
                for name, part in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                    out[f"{prefix}self_attn.{name}_proj.{kind}"] = part
            elif rest in _BLOCK:
                out[prefix + _BLOCK[rest]] = value
            else:
                raise UserError(
                    f"unexpected CLIP checkpoint key '{key}' (not a ViT CLIP state dict?)"
                )
        else:
            raise UserError(f"unexpected CLIP checkpoint key '{key}' (not a ViT CLIP state dict?)")
    if "visual_projection.weight" not in out or "text_projection.weight" not in out:
        raise UserError("CLIP checkpoint lacks visual.proj or text_projection (not a ViT CLIP?)")
    return {k: v.contiguous() for k, v in out.items()}


# open_clip ViT-H-14 (and HPS v2) use the same key scheme.
openclip_to_hf = openai_to_hf


# --- reading checkpoints -------------------------------------------------------------------


def load_checkpoint_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A CLIP checkpoint's state dict: a TorchScript archive, or a pickle loaded with
    ``weights_only=True`` (a top-level ``state_dict`` key and a ``module.`` prefix are unwrapped)."""
    path = Path(path)
    if is_torchscript(path):
        state = read_torchscript_tensors(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UserError(
                f"{path}: not a plain weights file ({str(exc).splitlines()[0]})"
            ) from None
        if isinstance(state, Mapping) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, Mapping):
            raise UserError(f"{path}: expected a state dict, found {type(state).__name__}")
    return {
        (k[len("module.") :] if k.startswith("module.") else k): v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }


def save_safetensors(
    state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike, **metadata: str
) -> None:
    """Write tensors (made contiguous, storage not shared) to a safetensors file."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().clone() for k, v in state_dict.items()}
    save_file(tensors, str(path), metadata=dict(metadata) or None)


def convert_clip_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """OpenAI / open_clip / HPS v2 checkpoint → transformers-layout safetensors (``convert=``)."""
    save_safetensors(
        openai_to_hf(load_checkpoint_state_dict(src)), dst, format="pt", layout="transformers-clip"
    )


def convert_plain_state_dict(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """A small ``torch.save``-d state dict (e.g. an aesthetic head) → safetensors, keys unchanged."""
    save_safetensors(load_checkpoint_state_dict(src), dst, format="pt")
