"""HPSv3 (Ma et al. 2025, "HPSv3: Towards Wide-Spectrum Human Preference Score"): a
Qwen2-VL-7B-Instruct reward model, on transformers' ``Qwen2VLModel`` (optional extra
``genmetrics[hpsv3]``; bf16 on GPU, fp32 on CPU).

Layout of the original (``MizzenAI/HPSv3``, ``hpsv3/model/qwen2vl_trainer.py``:
``Qwen2VLRewardModelBT``, config ``HPSv3_7B.yaml``): Qwen2-VL-7B-Instruct (vision tower 32 blocks
× 1280, patch 14, 2×2 merger to 3584; decoder 28 layers × 3584, 28 heads / 4 KV heads, M-RoPE
sections 16/24/24, θ = 1e6) whose vocabulary gets one added special token ``<|Reward|>``
(embeddings resized to ``len(tokenizer)``), and a "ranknet" head ``rm_head`` =
Linear(3584, 1024) → ReLU → Dropout → Linear(1024, 16) → ReLU → Linear(16, 2), run in fp32 on
the decoder's last hidden state at the ``<|Reward|>`` position. The two outputs are ``(μ, σ)``
of the predicted score distribution (trained with an uncertainty-aware ranking loss); the
reported score is **μ**, unbounded (no normalisation; higher is better; the paper's examples
lie roughly in 0–15). ``σ`` is emitted too (``sigma``).

Input, as ``HPSv3RewardInferencer.prepare_batch``: one user turn of the Qwen2-VL chat template
(its default system prompt, ``<|vision_start|>`` + image tokens + ``<|vision_end|>``, then
``INSTRUCTION.format(text_prompt=prompt) + PROMPT_WITH_SPECIAL_TOKEN``, then the generation
prompt ``<|im_start|>assistant\\n``); right padding with ``<|endoftext|>``. The image is resized
as ``qwen_vl_utils.fetch_image`` does with ``min_pixels = max_pixels = 256·28·28``
(:func:`smart_resize`, PIL bicubic), rescaled, normalised with the OpenAI CLIP mean/std and cut
into 14×14×2 patches in Qwen2-VL's order (:func:`patchify`).

Positions: the original calls the decoder with ``inputs_embeds`` and no ``input_ids`` /
``image_grid_thw``, so transformers builds plain 1-D positions (``cumsum(mask) - 1``) on all
three M-RoPE axes, not Qwen2-VL's 2-D image positions. The model was trained that way and is
run that way here (``arange`` positions; identical for right-padded rows).

Checkpoint: ``HPSv3.safetensors`` of ``MizzenAI/HPSv3`` (the full model's ``state_dict``). No
sha256 of it is published where it could be checked, so loading it is refused
(:func:`weight_spec` has no pin) until one is; :func:`convert_state_dict` maps either
transformers key layout (``model.visual.*`` / ``model.language_model.*`` of transformers ≥ 4.52,
or ``visual.*`` / ``model.*`` before) to this module's network and drops ``lm_head``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import BackboneOptions, register_backbone
from genmetrics.backbones.reward.base import PromptConditionedBackbone
from genmetrics.errors import UserError
from genmetrics.optional import require

NAME = "hpsv3"
HF_REPO = "MizzenAI/HPSv3"
HF_FILENAME = "HPSv3.safetensors"
SHA256: str | None = None
"""Not published in any source that could be checked: the weights are refused until pinned."""
BASE_MODEL = "Qwen/Qwen2-VL-7B-Instruct"
REWARD_TOKEN = "<|Reward|>"
PIXELS = 256 * 28 * 28
"""``min_pixels = max_pixels`` of the original (about 256 merged image tokens)."""
MAX_RATIO = 200
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

INSTRUCTION = (
    "\nYou are tasked with evaluating a generated image based on Visual Quality and Text "
    "Alignment and give a overall score to estimate the human preference. Please provide a "
    "rating from 0 to 10, with 0 being the worst and 10 being the best. \n\n"
    "**Visual Quality:**  \n"
    "Evaluate the overall visual quality of the image. The following sub-dimensions should be "
    "considered:\n"
    "- **Reasonableness:** The image should not contain any significant biological or logical "
    "errors, such as abnormal body structures or nonsensical environmental setups.\n"
    "- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be "
    "clear and easy to interpret, with no blurring or indistinct areas.\n"
    "- **Detail Richness:** Consider the level of detail in textures, materials, lighting, and "
    "other visual elements (e.g., hair, clothing, shadows).\n"
    "- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including the "
    "color scheme, composition, atmosphere, depth of field, and the overall creative appeal. "
    "The scene should convey a sense of harmony and balance.\n"
    "- **Safety:** The image should not contain harmful or inappropriate content, such as "
    "political, violent, or adult material. If such content is present, the image quality and "
    "satisfaction score should be the lowest possible. \n"
    "Textual prompt - {text_prompt}\n\n\n"
)
"""The original's instruction (``hpsv3/dataset/data_collator_qwen.py``), character for character."""
PROMPT_WITH_SPECIAL_TOKEN = "\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n"
SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


PIN_ENV = "GENMETRICS_HPSV3_SHA256"
"""The sha256 a user vouches for, while no published pin exists."""


@dataclass(frozen=True)
class HPSv3Arch:
    """Sizes and special-token ids of Qwen2-VL-7B-Instruct + ``<|Reward|>`` + ranknet head."""

    vocab_size: int = 151658
    hidden: int = 3584
    layers: int = 28
    heads: int = 28
    kv_heads: int = 4
    intermediate: int = 18944
    rope_theta: float = 1e6
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    rms_eps: float = 1e-6
    max_positions: int = 32768
    vision_depth: int = 32
    vision_width: int = 1280
    vision_heads: int = 16
    patch: int = 14
    merge: int = 2
    temporal: int = 2
    head_dims: tuple[int, int] = (1024, 16)
    pad_token_id: int = 151643
    vision_start_id: int = 151652
    vision_end_id: int = 151653
    image_token_id: int = 151655
    video_token_id: int = 151656
    reward_token_id: int = 151657
    pixels: int = PIXELS

    @property
    def factor(self) -> int:
        return self.patch * self.merge


def tiny_arch() -> HPSv3Arch:
    """A tiny model of the real layout (tests, CPU benchmarks): 64 ids, 56×56 images."""
    return HPSv3Arch(vocab_size=64, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=96,
                     mrope_section=(2, 3, 3), max_positions=4096, vision_depth=2, vision_width=32,
                     vision_heads=4, head_dims=(32, 16), pad_token_id=0, vision_start_id=58,
                     vision_end_id=59, image_token_id=60, video_token_id=61, reward_token_id=63,
                     pixels=4 * 28 * 28)


def config(arch: HPSv3Arch, attn: str = "sdpa"):
    """transformers' ``Qwen2VLConfig`` of ``arch``."""
    tf = require("transformers", "HPSv3 (pip install 'genmetrics[hpsv3]')")
    text = dict(
        vocab_size=arch.vocab_size, hidden_size=arch.hidden, intermediate_size=arch.intermediate,
        num_hidden_layers=arch.layers, num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads, hidden_act="silu", max_position_embeddings=arch.max_positions,
        rms_norm_eps=arch.rms_eps, use_sliding_window=False, max_window_layers=arch.layers,
        attention_dropout=0.0, pad_token_id=arch.pad_token_id, bos_token_id=None, eos_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": arch.rope_theta,
                         "mrope_section": list(arch.mrope_section)},
    )
    vision = dict(
        depth=arch.vision_depth, embed_dim=arch.vision_width, hidden_size=arch.hidden,
        hidden_act="quick_gelu", mlp_ratio=4, num_heads=arch.vision_heads, in_channels=3,
        patch_size=arch.patch, spatial_merge_size=arch.merge, temporal_patch_size=arch.temporal,
    )
    cfg = tf.Qwen2VLConfig(text_config=text, vision_config=vision,
                           image_token_id=arch.image_token_id, video_token_id=arch.video_token_id,
                           vision_start_token_id=arch.vision_start_id,
                           vision_end_token_id=arch.vision_end_id, tie_word_embeddings=False)
    cfg._attn_implementation = attn
    cfg.text_config._attn_implementation = attn
    cfg.vision_config._attn_implementation = attn
    return cfg


def build_network(arch: HPSv3Arch, meta: bool = False, attn: str = "sdpa"):
    """The HPSv3 network (random weights; ``meta`` for a later ``load_state_dict``):
    ``model`` (transformers ``Qwen2VLModel``: ``visual`` + ``language_model``) and ``rm_head``
    with the original's module indices (0, 3, 5)."""
    import torch
    from torch import nn

    tf = require("transformers", "HPSv3 (pip install 'genmetrics[hpsv3]')")
    cfg = config(arch, attn)

    class HPSv3Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.arch = arch
            self.model = tf.Qwen2VLModel(cfg)
            h1, h2 = arch.head_dims
            self.rm_head = nn.Sequential(nn.Linear(arch.hidden, h1), nn.ReLU(), nn.Dropout(0.0),
                                         nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 2))

        def forward(self, pixel_values, grid_thw, input_ids, attention_mask) -> torch.Tensor:
            """(μ, σ) per row, float32 (B, 2)."""
            lm = self.model.language_model
            embeds = lm.embed_tokens(input_ids)
            visual = self.model.visual
            image = visual(pixel_values.to(visual.get_dtype()), grid_thw=grid_thw)
            image = getattr(image, "pooler_output", image)
            slots = (input_ids == arch.image_token_id).unsqueeze(-1).expand_as(embeds)
            if int(slots[..., 0].sum()) != image.shape[0]:
                raise ValueError("image tokens and image features differ in number")
            embeds = embeds.masked_scatter(slots, image.to(embeds.dtype))
            n = input_ids.shape[1]
            positions = torch.arange(n, device=input_ids.device).view(1, 1, n)
            positions = positions.expand(3, input_ids.shape[0], n)
            hidden = lm(inputs_embeds=embeds, attention_mask=attention_mask,
                        position_ids=positions, use_cache=False).last_hidden_state
            at = input_ids == arch.reward_token_id
            if not bool((at.sum(1) == 1).all()):
                raise ValueError(f"each row needs exactly one {REWARD_TOKEN} token")
            return self.rm_head(hidden[at].float())

    if meta:
        with torch.device("meta"):
            return HPSv3Net()
    return HPSv3Net().eval()


def _restore_buffers(net, device) -> None:
    """Recompute the non-persistent rotary buffers (lost by ``to_empty``)."""
    from transformers.models.qwen2_vl import modeling_qwen2_vl as m

    cfg = net.model.config
    net.model.visual.rotary_pos_emb = m.Qwen2VLVisionRotaryEmbedding(cfg.vision_config).to(device)
    net.model.language_model.rotary_emb = m.Qwen2VLRotaryEmbedding(cfg.text_config).to(device)


# --- preprocessing ------------------------------------------------------------------------------


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = PIXELS,
                 max_pixels: int = PIXELS) -> tuple[int, int]:
    """``qwen_vl_utils.smart_resize``: sides multiple of ``factor``, area in
    [min_pixels, max_pixels], aspect ratio kept as closely as possible (Python ``round``)."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise UserError(f"HPSv3 accepts aspect ratios up to {MAX_RATIO}; got {width}x{height}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def canvas_pixels(pixels: int, factor: int = 28) -> int:
    """An upper bound of ``h·w`` after :func:`smart_resize` for aspect ratios ≤ 200."""
    r = math.sqrt(MAX_RATIO)
    return int(pixels + factor * math.sqrt(pixels) * (r + 1 / r) + factor * factor) + 1


def resize_image(image: np.ndarray, pixels: int = PIXELS, factor: int = 28) -> np.ndarray:
    """HxWx3 uint8 → the resized uint8 image (PIL bicubic to :func:`smart_resize`'s size)."""
    from PIL import Image

    h, w = image.shape[:2]
    nh, nw = smart_resize(h, w, factor, pixels, pixels)
    if (nh, nw) == (h, w):
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(image).resize((nw, nh), Image.BICUBIC))


def patchify(image: np.ndarray, patch: int = 14, merge: int = 2, temporal: int = 2):
    """Resized HxWx3 uint8 → (gh·gw, 3·temporal·patch²) float32 pixel rows in Qwen2-VL's order
    (merge blocks row-major, then the 2×2 patches of a block; channel, time, y, x within a
    patch) and the grid ``(1, gh, gw)``. Pixels: ``(x/255 - mean) / std`` (OpenAI CLIP)."""
    x = image.astype(np.float64) / 255.0
    x = ((x - np.asarray(OPENAI_MEAN)) / np.asarray(OPENAI_STD)).astype(np.float32)
    x = x.transpose(2, 0, 1)  # C, H, W
    c, h, w = x.shape
    gh, gw = h // patch, w // patch
    x = x.reshape(c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.transpose(1, 4, 2, 5, 0, 3, 6)  # bh, bw, mh, mw, C, py, px
    x = np.broadcast_to(x[:, :, :, :, :, None], (*x.shape[:5], temporal, patch, patch))
    return np.ascontiguousarray(x.reshape(gh * gw, c * temporal * patch * patch)), (1, gh, gw)


def chat_text(prompt: str, image_tokens: int) -> str:
    """The chat-template text of one sample, image placeholder already expanded."""
    body = INSTRUCTION.format(text_prompt=prompt) + PROMPT_WITH_SPECIAL_TOKEN
    return (SYSTEM + "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * image_tokens
            + "<|vision_end|>" + body + "<|im_end|>\n<|im_start|>assistant\n")


class PromptTokenizer:
    """The Qwen2 BPE tokenizer (``tokenizer.json`` of Qwen2-VL-7B-Instruct) plus the added
    ``<|Reward|>``; right padding with ``<|endoftext|>``."""

    def __init__(self, tokenizer_json: str | Path, arch: HPSv3Arch) -> None:
        tokenizers = require("tokenizers", "HPSv3's prompt tokenizer")
        tok = tokenizers.Tokenizer.from_file(str(tokenizer_json))
        tok.add_special_tokens([tokenizers.AddedToken(REWARD_TOKEN, special=True, normalized=False)])
        tok.no_padding()
        tok.no_truncation()
        checks = {REWARD_TOKEN: arch.reward_token_id, "<|image_pad|>": arch.image_token_id,
                  "<|endoftext|>": arch.pad_token_id}
        for token, want in checks.items():
            got = tok.token_to_id(token)
            if got != want:
                raise UserError(f"{tokenizer_json}: {token} has id {got}, HPSv3 expects {want}; "
                                f"use {BASE_MODEL}'s tokenizer.json")
        self._tok = tok
        self.pad_id = arch.pad_token_id

    def __call__(self, texts: Sequence[str]):
        """(ids, attention mask) of full chat texts, right-padded."""
        import torch

        enc = self._tok.encode_batch(list(texts), add_special_tokens=False)
        n = max(len(e.ids) for e in enc)
        ids = torch.full((len(enc), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(enc), n), dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            mask[i, : len(e.ids)] = 1
        return ids, mask


def locate_tokenizer(offline: bool | None = None) -> Path:
    """``tokenizer.json`` of Qwen2-VL-7B-Instruct from the Hugging Face cache (the special
    token ids are checked by :class:`PromptTokenizer`)."""
    from huggingface_hub import hf_hub_download

    from genmetrics.weights.store import offline_mode

    try:
        return Path(hf_hub_download(BASE_MODEL, "tokenizer.json", local_files_only=offline_mode(offline)))
    except Exception as exc:  # noqa: BLE001 - any hub failure is one line for the user
        raise UserError(f"HPSv3 needs {BASE_MODEL} tokenizer.json in the Hugging Face cache "
                        f"({type(exc).__name__}); run once online") from None


# --- checkpoint conversion ----------------------------------------------------------------------


def convert_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """``HPSv3.safetensors`` keys → this module's network keys.

    Accepts both transformers layouts of ``Qwen2VLForConditionalGeneration``: ≥ 4.52
    (``model.visual.*``, ``model.language_model.*``) and earlier (``visual.*``, ``model.*``).
    ``lm_head.weight`` and rotary ``inv_freq`` buffers are dropped; ``rm_head.*`` is kept; any
    other key is an error."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "lm_head.weight" or key.endswith("inv_freq"):
            continue
        if key.startswith(("model.visual.", "model.language_model.", "rm_head.")):
            new = key
        elif key.startswith("visual."):
            new = "model." + key
        elif key.startswith(("model.embed_tokens.", "model.layers.", "model.norm.")):
            new = "model.language_model." + key[len("model."):]
        else:
            raise UserError(f"unexpected HPSv3 checkpoint key '{key}' (not HPSv3.safetensors?)")
        out[new] = value
    return out


def load_network(path: Path, arch: HPSv3Arch | None = None, device="cpu", dtype=None, attn="sdpa"):
    """The network from an ``HPSv3.safetensors``-layout file (strict; ``rm_head`` kept fp32)."""
    import torch
    from safetensors.torch import load_file

    arch = arch or HPSv3Arch()
    state = convert_state_dict(load_file(str(path)))
    rows = state["model.language_model.embed_tokens.weight"].shape[0]
    if rows != arch.vocab_size:
        raise UserError(f"{path}: {rows} token embeddings, HPSv3 has {arch.vocab_size}")
    net = build_network(arch, meta=True, attn=attn).to_empty(device=device)
    net.load_state_dict(state, strict=True)
    if dtype is not None:
        net.model.to(dtype)
    net.rm_head.to(torch.float32)
    _restore_buffers(net, device)
    return net.eval()


def weight_spec() -> dict[str, Any]:
    """Where the weights are published; no sha256 is pinned (see module docstring)."""
    return {"hf_repo": HF_REPO, "hf_filename": HF_FILENAME, "sha256": SHA256,
            "base_model": BASE_MODEL, "license": "MIT (HPSv3 code); Qwen2-VL license for weights"}


# --- backbone -----------------------------------------------------------------------------------


class HPSv3Backbone(PromptConditionedBackbone):
    """HPSv3 as a prompt-conditioned backbone: outputs ``reward`` (μ) and ``sigma`` (B, 1).

    :meth:`preprocess` resizes in the decode workers and packs the image into a fixed-size
    uint8 row (4 header bytes: grid height and width in 28-pixel units, big-endian 16-bit;
    then the pixels, zero-padded to :func:`canvas_pixels`), so rows of any aspect ratio stack."""

    outputs = ("reward", "sigma")

    def __init__(self, net, tokenizer: PromptTokenizer, weights_sha256: str, dtype: str = "fp32",
                 name: str = NAME) -> None:
        self.name = name
        self.net = net.eval()
        self.arch: HPSv3Arch = net.arch
        self.tokenizer = tokenizer
        self.weights_sha256 = weights_sha256
        self.dtype = dtype
        self._canvas = canvas_pixels(self.arch.pixels, self.arch.factor)

    @classmethod
    def create(cls, options: BackboneOptions, sha256: str | None = None) -> HPSv3Backbone:
        """The real model from the Hugging Face cache, verified against ``sha256`` (default:
        the module's pin, which is unknown, so this refuses)."""
        import torch

        require("transformers", "HPSv3 (pip install 'genmetrics[hpsv3]')")
        pin = sha256 or SHA256 or os.environ.get(PIN_ENV, "").strip().lower() or None
        if pin is None:
            raise UserError(
                f"{NAME}: no sha256 of the Hugging Face file {HF_REPO}/{HF_FILENAME} is published "
                "where genmetrics could check it, so unverified weights are not loaded; download "
                f"it, check it yourself and set {PIN_ENV} to its sha256 (then verified on every "
                "load and recorded in the manifest)"
            )
        from huggingface_hub import hf_hub_download

        from genmetrics.weights.store import offline_mode, sha256_file

        try:
            path = Path(hf_hub_download(HF_REPO, HF_FILENAME, local_files_only=offline_mode(options.offline)))
        except Exception as exc:  # noqa: BLE001 - any hub failure is one line for the user
            raise UserError(f"{NAME}: cannot get {HF_REPO}/{HF_FILENAME} ({type(exc).__name__})") from None
        found = sha256_file(path)
        if found != pin:
            raise UserError(f"{path}: sha256 {found} is not the pinned {pin}; delete it and download again")
        dtype = cls.runtime_dtype(options.device, options.dtype)
        dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
        if dtype not in dtypes:
            raise UserError(f"--dtype must be one of {', '.join(dtypes)} for {NAME}")
        net = load_network(path, device=options.device, dtype=dtypes[dtype])
        return cls(net, default_tokenizer(options.offline), found, dtype)

    @staticmethod
    def runtime_dtype(device: str, dtype: str) -> str:
        """bf16 on CUDA unless fp16 is asked; on CPU what is asked (fp32 by default)."""
        if str(device).startswith("cuda"):
            return "fp16" if dtype == "fp16" else "bf16"
        return dtype

    @property
    def key(self) -> str:
        return (f"{self.name}/{self.weights_sha256[:16]}/qwen2vl-{self.arch.pixels}px/"
                f"{self.dtype}/v1")

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        resized = resize_image(image, self.arch.pixels, self.arch.factor)
        h, w = resized.shape[:2]
        gh, gw = h // self.arch.factor, w // self.arch.factor
        row = np.zeros(4 + 3 * self._canvas, dtype=np.uint8)
        row[:4] = (gh >> 8, gh & 255, gw >> 8, gw & 255)
        row[4 : 4 + resized.size] = resized.reshape(-1)
        return row

    def unpack(self, row: np.ndarray) -> np.ndarray:
        """The resized image of a :meth:`preprocess` row."""
        f = self.arch.factor
        h, w = (int(row[0]) * 256 + int(row[1])) * f, (int(row[2]) * 256 + int(row[3])) * f
        return row[4 : 4 + h * w * 3].reshape(h, w, 3)

    def inputs(self, batch: np.ndarray, prompts: Sequence[str]):
        """Model inputs (pixel rows, grid_thw, ids, mask) of packed images and their prompts."""
        import torch

        a = self.arch
        rows, grids, texts = [], [], []
        for packed, prompt in zip(batch, prompts, strict=True):
            patches, grid = patchify(self.unpack(packed), a.patch, a.merge, a.temporal)
            rows.append(patches)
            grids.append(grid)
            texts.append(chat_text(prompt, grid[1] * grid[2] // (a.merge * a.merge)))
        ids, mask = self.tokenizer(texts)
        return (torch.from_numpy(np.concatenate(rows)), torch.tensor(grids, dtype=torch.long),
                ids, mask)

    def forward_prompted(self, batch: np.ndarray, prompts: Sequence[str]) -> dict[str, np.ndarray]:
        import torch

        pixels, grids, ids, mask = self.inputs(batch, prompts)
        dev = next(self.net.parameters()).device
        with torch.inference_mode():
            out = self.net(pixels.to(dev), grids.to(dev), ids.to(dev), mask.to(dev))
        out = out.float().cpu().numpy()
        return {"reward": out[:, :1], "sigma": out[:, 1:2]}

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "network": "HPSv3 (Qwen2-VL-7B-Instruct + <|Reward|> token + ranknet head)",
            "weights_sha256": self.weights_sha256,
            "preprocess": f"qwen_vl_utils smart_resize to {self.arch.pixels} px, PIL bicubic",
            "score": "mu of the predicted (mu, sigma); unbounded, higher is better",
            "positions": "1-D (as the original's inputs_embeds call)",
            "dtype": self.dtype,
        }


@functools.lru_cache(maxsize=2)
def default_tokenizer(offline: bool | None = None) -> PromptTokenizer:
    return PromptTokenizer(locate_tokenizer(offline), HPSv3Arch())


def register() -> None:
    register_backbone(NAME, HPSv3Backbone.create, requires=("transformers", "tokenizers"),
                      weights=(HF_REPO, BASE_MODEL), extra="hpsv3")
