"""ImageReward v1.0 (Xu et al. 2023, "ImageReward: Learning and Evaluating Human Preferences
for Text-to-Image Generation") on transformers' BLIP parts.

Layout of the original (``THUDM/ImageReward``, ``ImageReward.pt``): BLIP ViT-L/16 at 224
(24 blocks, width 1024, 16 heads, LayerNorm eps 1e-6, exact GELU, qkv with bias) whose tokens
(after the final norm) are cross-attended by BLIP's BERT text encoder (12 layers, width 768,
vocabulary 30,524 = bert-base-uncased + ``[DEC]`` + ``[ENC]``, LayerNorm eps 1e-12,
bidirectional self-attention, cross-attention keys/values from the 1024-wide image tokens),
then an MLP 768→1024→128→64→16→1 with no activations (dropout only in training) on the
``[CLS]`` output. transformers' ``BlipVisionModel`` and ``BlipTextModel`` (with
``is_decoder=True`` only to build the cross-attention; run as an encoder) have the same
parameters and arithmetic, so they are used with a renaming of keys (:func:`convert_state_dict`).

Reward: ``(mlp(h_cls) - 0.16717362830052426) / 1.0333394966054072`` (the original's constants;
unbounded, about N(0, 1) over its training prompts; higher is better).
Prompt: bert-base-uncased WordPiece, ``[CLS] … [SEP]`` padded with 0 to 35 tokens, truncated at
35 as the original (``truncation=True, max_length=35``); the ids start with ``[CLS]`` (101),
not ``[ENC]``, exactly as ImageReward's ``score`` does. Truncated prompts are counted.
Image: OpenAI CLIP preprocessing at 224 (torchvision ``Resize(224, bicubic)`` on the PIL image,
``CenterCrop(224)``, OpenAI mean/std), :func:`genmetrics.backbones.clip.preprocess.clip_preprocess`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import BackboneOptions, register_backbone
from genmetrics.backbones.reward.base import PromptConditionedBackbone
from genmetrics.errors import UserError
from genmetrics.optional import require

NAME = "imagereward"
REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
MAX_TOKENS = 35
_HF_REPO = "THUDM/ImageReward"
_HF_REVISION = "9fabc279a94f082f9eb130070cac021569dd16dc"
_SHA256 = "d71dc8d4912bc633c06ab8ef1ef6a81e8199d4369f14b47b29baf1d19de561f6"
VOCAB_REPO = "google-bert/bert-base-uncased"
VOCAB_GIT_BLOB = "fb140275c155a9c7c5a3b3e0e77a9e839594a938"
"""Git object id of bert-base-uncased ``vocab.txt`` (the hub's ETag): its content pin."""


@dataclass(frozen=True)
class ImageRewardArch:
    """Sizes of the BLIP ViT + BERT text encoder + MLP head."""

    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    vocab_size: int = 30524
    max_positions: int = 512
    mlp_dims: tuple[int, ...] = (1024, 128, 64, 16)


def tiny_arch() -> ImageRewardArch:
    """A few-kilobyte model of the real layout (tests)."""
    return ImageRewardArch(32, 16, 32, 2, 4, 24, 2, 4, 40, 40, (16, 8, 8, 4))


def _configs(arch: ImageRewardArch):
    tf = require("transformers", "ImageReward")
    vision = tf.BlipVisionConfig(
        hidden_size=arch.vision_width, intermediate_size=4 * arch.vision_width,
        num_hidden_layers=arch.vision_layers, num_attention_heads=arch.vision_heads,
        image_size=arch.image_size, patch_size=arch.patch_size, layer_norm_eps=1e-6,
        hidden_act="gelu", attention_dropout=0.0,
    )
    text = tf.BlipTextConfig(
        vocab_size=arch.vocab_size, hidden_size=arch.text_width,
        intermediate_size=4 * arch.text_width, num_hidden_layers=arch.text_layers,
        num_attention_heads=arch.text_heads, max_position_embeddings=arch.max_positions,
        layer_norm_eps=1e-12, hidden_act="gelu", encoder_hidden_size=arch.vision_width,
        is_decoder=True, pad_token_id=0, bos_token_id=None, sep_token_id=None,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return vision, text


def build_network(arch: ImageRewardArch, meta: bool = False):
    """The ImageReward network (random weights; ``meta`` for a later ``load_state_dict``)."""
    import torch
    from torch import nn

    tf = require("transformers", "ImageReward")
    vision_cfg, text_cfg = _configs(arch)

    class ImageRewardNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = arch
            self.vision = tf.BlipVisionModel(vision_cfg)
            self.text = tf.BlipTextModel(text_cfg, add_pooling_layer=False)
            dims = (arch.text_width, *arch.mlp_dims, 1)
            linears = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)]
            self.mlp = nn.Module()
            self.mlp.layers = nn.Sequential(*_original_mlp_order(linears))

        def raw(self, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            image = self.vision(pixel_values=pixels).last_hidden_state
            image_mask = torch.ones(image.shape[:2], dtype=torch.long, device=image.device)
            hidden = self.text(
                input_ids=ids, attention_mask=mask, encoder_hidden_states=image,
                encoder_attention_mask=image_mask, is_decoder=False,
            ).last_hidden_state
            return self.mlp.layers(hidden[:, 0, :].float())[:, 0]

        def forward(self, pixels, ids, mask):
            return (self.raw(pixels, ids, mask) - REWARD_MEAN) / REWARD_STD

    if meta:
        with torch.device("meta"):
            return ImageRewardNet()
    return ImageRewardNet().eval()


def _original_mlp_order(layers: list) -> list:
    """Linear, Dropout, Linear, Dropout, Linear, Dropout, Linear, Linear: indices 0, 2, 4, 6, 7
    hold the linears, as in the original ``MLP.layers``."""
    from torch import nn

    linears = list(layers)
    if len(linears) != 5:
        raise ValueError("ImageReward's head has 5 linear layers")
    l0, l1, l2, l3, l4 = linears
    return [l0, nn.Dropout(0.0), l1, nn.Dropout(0.0), l2, nn.Dropout(0.0), l3, l4]


# --- checkpoint conversion --------------------------------------------------------------------

_VISION_TOP = {
    "cls_token": "embeddings.class_embedding",
    "pos_embed": "embeddings.position_embedding",
    "patch_embed.proj.weight": "embeddings.patch_embedding.weight",
    "patch_embed.proj.bias": "embeddings.patch_embedding.bias",
    "norm.weight": "post_layernorm.weight",
    "norm.bias": "post_layernorm.bias",
}
_VISION_BLOCK = {
    "norm1": "layer_norm1",
    "attn.qkv": "self_attn.qkv",
    "attn.proj": "self_attn.projection",
    "norm2": "layer_norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_DROPPED = ("blip.vision_proj.", "blip.text_proj.")


def convert_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """``ImageReward.pt`` keys (``blip.visual_encoder.*``, ``blip.text_encoder.*``,
    ``mlp.layers.*``) → this module's network keys (``vision.*``, ``text.*``, ``mlp.layers.*``).
    ``blip.vision_proj`` / ``blip.text_proj`` (unused by the reward) and BERT's
    ``position_ids`` buffer are dropped; any other key is an error."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith(_DROPPED) or key.endswith("position_ids"):
            continue
        if key.startswith("blip.visual_encoder."):
            rest = key[len("blip.visual_encoder.") :]
            if rest in _VISION_TOP:
                out["vision." + _VISION_TOP[rest]] = value
                continue
            if rest.startswith("blocks."):
                _, n, tail = rest.split(".", 2)
                module, param = tail.rsplit(".", 1)
                if module in _VISION_BLOCK:
                    out[f"vision.encoder.layers.{n}.{_VISION_BLOCK[module]}.{param}"] = value
                    continue
        elif key.startswith("blip.text_encoder."):
            rest = key[len("blip.text_encoder.") :]
            if rest.startswith(("embeddings.", "encoder.layer.")):
                out["text." + rest] = value
                continue
        elif key.startswith("mlp.layers."):
            out[key] = value
            continue
        raise UserError(f"unexpected ImageReward checkpoint key '{key}' (not ImageReward.pt?)")
    return out


def convert_checkpoint(src: Path, dst: Path) -> dict[str, Any]:
    """``ImageReward.pt`` → safetensors in this module's layout (``WeightSpec.convert``)."""
    from genmetrics.backbones.clip.convert import load_checkpoint_state_dict, save_safetensors

    save_safetensors(convert_state_dict(load_checkpoint_state_dict(src)), dst, format="pt",
                     layout="genmetrics-imagereward")
    return {"source_form": "ImageReward.pt", "outputs": ["reward"]}


def weight_spec():
    from genmetrics.weights.store import WeightSpec

    return WeightSpec(
        name=NAME,
        filename=f"{NAME}.safetensors",
        sha256=_SHA256,
        description="ImageReward v1.0 (BLIP ViT-L + BERT cross-attention + MLP)",
        hf_repo=_HF_REPO,
        hf_filename="ImageReward.pt",
        hf_revision=_HF_REVISION,
        license="Apache-2.0 (ImageReward)",
        convert=convert_checkpoint,
        outputs=("reward",),
    )


def load_network(path: Path, arch: ImageRewardArch | None = None, device="cpu", dtype=None):
    """The network from a converted safetensors file (strict)."""
    from safetensors.torch import load_file

    from genmetrics.backbones.clip.model import _reset_position_ids

    net = build_network(arch or ImageRewardArch(), meta=True).to_empty(device=device)
    if dtype is not None:
        net = net.to(dtype)
    net.load_state_dict(load_file(str(path)), strict=True)
    _reset_position_ids(net)
    return net.eval()


# --- tokenizer ----------------------------------------------------------------------------------


def git_blob_sha1(path: Path) -> str:
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class PromptTokenizer:
    """bert-base-uncased WordPiece with BLIP's two added tokens; 35 tokens as ImageReward."""

    def __init__(self, vocab_file: str | Path, max_length: int = MAX_TOKENS) -> None:
        tokenizers = require("tokenizers", "ImageReward's prompt tokenizer")
        tok = tokenizers.BertWordPieceTokenizer(str(vocab_file), lowercase=True)
        tok.add_special_tokens(["[DEC]", "[ENC]"])
        tok.enable_truncation(max_length)
        tok.enable_padding(length=max_length, pad_id=0, pad_token="[PAD]")
        self._tok = tok
        self.max_length = max_length

    def __call__(self, prompts: Sequence[str]):
        """(ids, attention mask, truncated flags) for ``prompts``."""
        import torch

        enc = self._tok.encode_batch(list(prompts))
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask, [bool(e.overflowing) for e in enc]


def locate_vocab(offline: bool | None = None) -> Path:
    """bert-base-uncased ``vocab.txt`` from the Hugging Face cache, checked by its git id."""
    from huggingface_hub import hf_hub_download

    from genmetrics.weights.store import offline_mode

    try:
        path = Path(hf_hub_download(VOCAB_REPO, "vocab.txt", local_files_only=offline_mode(offline)))
    except Exception as exc:  # noqa: BLE001 - any hub failure is one line for the user
        raise UserError(
            f"ImageReward needs {VOCAB_REPO} vocab.txt in the Hugging Face cache ({type(exc).__name__}); "
            "run once online, or without --offline / HF_HUB_OFFLINE"
        ) from None
    found = git_blob_sha1(path)
    if found != VOCAB_GIT_BLOB:
        raise UserError(f"{path}: git id {found} is not bert-base-uncased's {VOCAB_GIT_BLOB}")
    return path


# --- backbone -----------------------------------------------------------------------------------


class ImageRewardBackbone(PromptConditionedBackbone):
    """ImageReward as a prompt-conditioned backbone: output ``reward`` (B, 1), standardised."""

    outputs = ("reward",)

    def __init__(self, net, tokenizer: PromptTokenizer, weights_sha256: str, dtype: str = "fp32",
                 name: str = NAME) -> None:
        self.name = name
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.weights_sha256 = weights_sha256
        self.dtype = dtype
        self.image_size = net.arch.image_size

    @classmethod
    def create(cls, options: BackboneOptions) -> ImageRewardBackbone:
        import torch

        from genmetrics.backbones.clip.backbone import _DTYPES
        from genmetrics.weights.store import ensure_weights, file_sha256, verified_weights_path

        if options.dtype not in _DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(_DTYPES)} for {NAME}")
        require("transformers", "ImageReward")
        spec = weight_spec()
        sha = file_sha256(ensure_weights(spec, options.offline))
        net = load_network(verified_weights_path(spec, options.offline), device=options.device,
                           dtype=getattr(torch, _DTYPES[options.dtype]))
        return cls(net, default_tokenizer(options.offline), sha, options.dtype)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.weights_sha256[:16]}/clip-{self.image_size}/bert{MAX_TOKENS}/{self.dtype}/v1"

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        from genmetrics.backbones.clip.preprocess import clip_preprocess

        return clip_preprocess(image, self.image_size)

    def forward_prompted(self, batch: np.ndarray, prompts: Sequence[str]) -> dict[str, np.ndarray]:
        import torch

        ids, mask, _ = self.tokenizer(prompts)
        param = next(self.net.parameters())
        with torch.inference_mode():
            reward = self.net(
                torch.from_numpy(batch).to(device=param.device, dtype=param.dtype),
                ids.to(param.device), mask.to(param.device),
            )
        return {"reward": reward.float().cpu().numpy()[:, None]}

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many distinct prompts exceed 35 tokens (and were cut, as the original)."""
        unique = list(dict.fromkeys(texts))
        return int(sum(self.tokenizer(unique)[2])) if unique else 0

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "network": "ImageReward v1.0 (BLIP ViT-L/16 224 + BERT cross-attention + MLP)",
            "weights_sha256": self.weights_sha256,
            "preprocess": "openai-clip-224",
            "prompt_tokens": MAX_TOKENS,
            "reward": f"(mlp - {REWARD_MEAN}) / {REWARD_STD}",
            "dtype": self.dtype,
        }


@functools.lru_cache(maxsize=2)
def default_tokenizer(offline: bool | None = None) -> PromptTokenizer:
    return PromptTokenizer(locate_vocab(offline))


def register() -> None:
    from genmetrics.weights.store import register_weights

    register_weights(weight_spec())
    register_backbone(NAME, ImageRewardBackbone.create, requires=("transformers", "tokenizers"),
                      weights=(NAME, VOCAB_REPO))
