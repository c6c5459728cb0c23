"""CLIP-family backbones from a Hugging Face model id or a local ``CLIPModel`` folder.

``--clip-model openai/clip-vit-large-patch14`` (any repository holding a transformers
``CLIPModel``: ``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``) or
``--clip-model /path/to/folder`` (the same files, e.g. a snapshot in the HF cache) build a
:class:`HfClipBackbone`. Files come from the user's Hugging Face cache; nothing is downloaded
when ``HF_HUB_OFFLINE=1`` / ``GENMETRICS_OFFLINE=1`` / ``--offline`` is set (a missing file
is then one :class:`UserError` line). Named presets (:data:`HF_CLIP_PRESETS`) pin the
repository revision and the sha256 of the weights file and refuse any other bytes; an
arbitrary id is not pinned, so its cache key and manifest carry the sha256 of the weights
file actually loaded and the snapshot's commit.

Preprocessing follows the repository's ``preprocessor_config.json`` as transformers' PIL
``CLIPImageProcessor`` runs it: the shortest side to ``size`` with PIL bicubic (the longer side
``int(size * long / short)``), a centred ``crop`` with ``top = (h - crop) // 2`` (note: not
torchvision's rounding), values / 255, normalised with the file's mean and std (float32).
Texts use the packaged CLIP BPE tokenizer (77 tokens, end token kept), so only models with
CLIP's 49,408-token vocabulary are accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.clip.backbone import _DTYPES, ClipBackbone
from genmetrics.backbones.clip.configs import ClipArch
from genmetrics.backbones.clip.hub import ID_RULE, hub_file, is_hf_id, probe_hub, unreachable_error
from genmetrics.backbones.clip.preprocess import OPENAI_MEAN, OPENAI_STD, _check, _resize
from genmetrics.backbones.clip.tokenizer import CONTEXT_LENGTH, VOCAB_SIZE
from genmetrics.backbones.registry import BackboneOptions
from genmetrics.errors import UserError
from genmetrics.optional import require

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class HfPreprocess:
    """transformers ``CLIPImageProcessor`` settings (PIL path)."""

    shortest_edge: int = 224
    crop: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    center_crop: bool = True

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None, image_size: int) -> HfPreprocess:
        if not cfg:
            return cls(image_size, image_size)
        size = cfg.get("size", image_size)
        if isinstance(size, dict):
            size = size.get("shortest_edge") or size.get("height") or image_size
        crop = cfg.get("crop_size", size)
        if isinstance(crop, dict):
            crop = crop.get("height") or crop.get("width") or size
        if cfg.get("resample", 3) != 3:
            raise UserError(
                f"preprocessor_config.json asks for PIL resample {cfg.get('resample')}; only "
                "bicubic (3) CLIP preprocessing is supported"
            )
        return cls(
            int(size),
            int(crop),
            tuple(cfg.get("image_mean", OPENAI_MEAN)),  # type: ignore[arg-type]
            tuple(cfg.get("image_std", OPENAI_STD)),  # type: ignore[arg-type]
            bool(cfg.get("do_center_crop", True)),
        )

    def tag(self) -> str:
        return f"hfclip-{self.shortest_edge}-{self.crop}-{int(self.center_crop)}"


def hf_clip_preprocess(image: np.ndarray, pre: HfPreprocess) -> np.ndarray:
    """HxWx3 uint8 → 3×crop×crop float32, as transformers' PIL ``CLIPImageProcessor``."""
    h, w = _check(image).shape[:2]
    s = pre.shortest_edge
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    new_h, new_w = (new_long, new_short) if w <= h else (new_short, new_long)
    resized = _resize(image, new_h, new_w)
    if pre.center_crop:
        c = pre.crop
        if new_h < c or new_w < c:  # transformers pads with zeros; never happens for crop <= size
            raise UserError(f"crop {c} larger than the resized image {new_h}x{new_w}")
        top, left = (new_h - c) // 2, (new_w - c) // 2
        resized = resized[top : top + c, left : left + c]
    x = resized.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


@dataclass(frozen=True)
class HfClipPreset:
    """A pinned Hugging Face CLIP: repository, commit, weights file and its sha256."""

    name: str
    repo: str
    revision: str
    sha256: str | None
    weights_file: str = "model.safetensors"
    description: str = ""
    preprocess: HfPreprocess = field(default_factory=HfPreprocess)
    """Preprocessing used when the repository has no ``preprocessor_config.json``."""
    processor_repo: str | None = None
    """Where the reference code takes its processor from (documentation)."""


HF_CLIP_PRESETS: dict[str, HfClipPreset] = {
    p.name: p
    for p in (
        HfClipPreset(
            "pickscore",
            "yuvalkirstain/PickScore_v1",
            # the commit whose model.safetensors is the file pinned below
            "a4e4367c6dfa7288a00c550414478f865b875800",
            "ef31ef6fc5ff4d9bb90dd232df4e145887ba62c5a03aa2841415f8c25f18d52e",
            description="PickScore v1 (CLIP ViT-H-14 fine-tuned on Pick-a-Pic)",
            processor_repo="laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        ),
    )
}


def is_hf_clip_name(name: str) -> bool:
    """A name this module can load: an ``owner/name`` id or an existing folder."""
    return is_hf_id(name) or Path(os.path.expanduser(name)).is_dir()


def _offline(offline: bool | None) -> bool:
    from genmetrics.weights.store import offline_mode

    return offline_mode(offline)


@dataclass(frozen=True)
class HfClipFiles:
    """Where one HF CLIP's files are: config, weights, optional processor config."""

    source: str
    config: Path
    weights: Path
    processor: Path | None
    revision: str | None

    def config_dict(self) -> dict[str, Any]:
        return _json_object(self.config, self.source)

    def processor_dict(self) -> dict[str, Any] | None:
        return _json_object(self.processor, self.source) if self.processor else None


MAX_CONFIG_BYTES = 4 << 20
"""A transformers config is a few kB; a larger one is refused before it is read."""


def _json_object(path: Path, source: str) -> dict[str, Any]:
    """A JSON object from a model's config file, or one ``error:`` line naming it."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{path.stat().st_size:,} bytes, more than any model config")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} ({source}): not a readable JSON config ({text})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} ({source}): not a JSON object; a transformers config is one")
    return data


def _snapshot_revision(path: Path) -> str | None:
    parts = path.resolve().parts
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


def locate_hf_clip(
    name: str, revision: str | None = None, offline: bool | None = None,
    weights_file: str | None = None,
) -> HfClipFiles:
    """The files of a local folder or a hub repository (see module docstring)."""
    folder = Path(os.path.expanduser(name))
    candidates = (weights_file,) if weights_file else WEIGHT_FILES
    if folder.is_dir():
        config = folder / "config.json"
        if not config.is_file():
            raise UserError(f"{folder}: no config.json; a CLIP folder holds a transformers CLIPModel")
        weights = next((folder / f for f in candidates if (folder / f).is_file()), None)
        if weights is None:
            raise UserError(f"{folder}: no {' or '.join(candidates)}; save the model with save_pretrained")
        proc = folder / "preprocessor_config.json"
        return HfClipFiles(str(folder), config, weights, proc if proc.is_file() else None,
                           _snapshot_revision(config))
    if not is_hf_id(name):
        raise UserError(f"'{name}' is neither a folder nor a Hugging Face id ({ID_RULE})")
    require("huggingface_hub", f"loading {name}")
    off = _offline(offline)
    unreachable = None if off else probe_hub(name, revision)
    if unreachable is not None:
        off = True  # the hub cannot be reached: the Hugging Face cache only, as the hub would
    hint = ("it is not in the Hugging Face cache and offline mode is on (HF_HUB_OFFLINE / "
            "--offline); download it once online, or pass a local folder") if off else (
            "check the id")

    def missing(what: str) -> UserError:
        if unreachable is not None:
            return unreachable_error(name, unreachable)
        return UserError(f"{name}: no {what} found; {hint}")

    config = hub_file(name, "config.json", revision, off)
    if config is None:
        raise missing("config.json")
    weights = None
    for f in candidates:
        weights = hub_file(name, f, revision, off)
        if weights is not None:
            break
    if weights is None:
        raise missing(" or ".join(candidates))
    proc = hub_file(name, "preprocessor_config.json", revision, off)
    return HfClipFiles(name, config, weights, proc, _snapshot_revision(config) or revision)


def arch_from_config(cfg: dict[str, Any], name: str) -> ClipArch:
    """Our :class:`ClipArch` description of a transformers ``CLIPConfig`` dict."""
    if cfg.get("model_type") not in (None, "clip"):
        raise UserError(
            f"{name}: model_type '{cfg.get('model_type')}' is not a CLIPModel (SigLIP, BLIP… "
            "are not CLIP); pass a CLIP repository"
        )
    text, vision = cfg.get("text_config") or {}, cfg.get("vision_config") or {}
    vocab = int(text.get("vocab_size", VOCAB_SIZE))
    ctx = int(text.get("max_position_embeddings", CONTEXT_LENGTH))
    if vocab != VOCAB_SIZE or ctx != CONTEXT_LENGTH:
        raise UserError(
            f"{name}: text vocabulary {vocab} / context {ctx} is not CLIP's {VOCAB_SIZE} / "
            f"{CONTEXT_LENGTH}; only CLIP-tokenizer models are supported"
        )
    width = int(vision.get("hidden_size", 768))
    twidth = int(text.get("hidden_size", 512))
    return ClipArch(
        name=name,
        embed_dim=int(cfg.get("projection_dim", 512)),
        image_size=int(vision.get("image_size", 224)),
        patch_size=int(vision.get("patch_size", 32)),
        vision_width=width,
        vision_layers=int(vision.get("num_hidden_layers", 12)),
        vision_heads=int(vision.get("num_attention_heads", 12)),
        text_width=twidth,
        text_layers=int(text.get("num_hidden_layers", 12)),
        text_heads=int(text.get("num_attention_heads", 8)),
        act=str(vision.get("hidden_act", "quick_gelu")),
        layer_norm_eps=float(vision.get("layer_norm_eps", 1e-5)),
    )


def read_state_dict(path: Path):
    """Tensors of a safetensors file or a plain pickle (``weights_only=True``); a truncated
    or corrupt file is one ``error:`` line naming it."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        from genmetrics.backbones.clip.convert import load_checkpoint_state_dict

        state = load_checkpoint_state_dict(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors/torch errors of a damaged file
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path}: the weights file cannot be read ({type(exc).__name__}: {text}); it is "
            "truncated or corrupt: delete it and download it again"
        ) from None
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def build_clip_model(cfg: dict[str, Any], state_dict, device="cpu", dtype=None):
    """A transformers ``CLIPModel`` from its config dict and a transformers-layout state dict
    (strict; the non-persistent ``position_ids`` some old files carry are ignored)."""
    import torch

    from genmetrics.backbones.clip.model import _reset_position_ids

    tf = require("transformers", "CLIP models from Hugging Face")
    config = tf.CLIPConfig.from_dict(cfg)
    with torch.device("meta"):
        model = tf.CLIPModel(config)
    model = model.to_empty(device=device)
    if dtype is not None:
        model = model.to(dtype)
    sd = {k: v for k, v in state_dict.items() if not k.endswith("position_ids")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise UserError(
            "CLIP weights do not match their config.json: "
            f"missing {missing[:3]}, unexpected {list(unexpected)[:3]}"
        )
    _reset_position_ids(model)
    return model.eval()


def load_hf_clip_encoder(files: HfClipFiles, device="cpu", dtype=None):
    """(ClipEncoder, ClipArch) of located files."""
    from genmetrics.backbones.clip.model import ClipEncoder

    cfg = files.config_dict()
    try:
        arch = arch_from_config(cfg, files.source)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise UserError(
            f"{files.config} ({files.source}): not a CLIPModel config ({type(exc).__name__}: "
            f"{str(exc)[:160]})"
        ) from None
    state = read_state_dict(files.weights)
    _check_size(cfg, state, files)
    try:
        model = build_clip_model(cfg, state, device=device, dtype=dtype)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers' config validation, torch shapes
        raise UserError(
            f"{files.source}: config.json and the weights do not make a CLIPModel "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''})"
        ) from None
    return ClipEncoder(arch, model)


def _tower_params(tower: dict[str, Any], width: int, layers: int) -> int:
    inter = int(tower.get("intermediate_size", 4 * width))
    return layers * (4 * width * width + 2 * width * inter)


def _check_size(cfg: dict[str, Any], state: dict[str, Any], files: HfClipFiles) -> None:
    """Refuse a config that describes a far larger model than the weights hold, before the
    model is allocated (a config of absurd sizes would otherwise take all memory)."""
    vision, text = cfg.get("vision_config") or {}, cfg.get("text_config") or {}
    try:
        want = _tower_params(vision, int(vision.get("hidden_size", 768)), int(vision.get("num_hidden_layers", 12)))
        want += _tower_params(text, int(text.get("hidden_size", 512)), int(text.get("num_hidden_layers", 12)))
    except (TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{files.config} ({files.source}): not a CLIPModel config ({exc})") from None
    have = sum(int(t.numel()) for t in state.values())
    if want > 2 * have + (1 << 20):
        raise UserError(
            f"{files.config} ({files.source}): describes a model of about {want:,} parameters in "
            f"its layers, but {files.weights.name} holds {have:,}; config and weights do not match"
        )


def _sha256(path: Path) -> str:
    from genmetrics.weights.store import sha256_file

    return sha256_file(path)


def create_hf_clip(
    name: str, options: BackboneOptions, preset: HfClipPreset | None = None,
    cls: type | None = None,
):
    """Build the backbone for ``name`` (a preset, hub id or folder) on ``options``."""
    import torch

    if options.dtype not in _DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(_DTYPES)} for {name}")
    require("transformers", f"{name} (CLIP-family metrics)")
    if preset is None:
        preset = HF_CLIP_PRESETS.get(name)
    if preset is not None:
        files = locate_hf_clip(preset.repo, preset.revision, options.offline, preset.weights_file)
    else:
        files = locate_hf_clip(name, None, options.offline)
    sha = _sha256(files.weights)
    if preset is not None and preset.sha256 is not None and sha != preset.sha256:
        raise UserError(
            f"{files.weights}: sha256 {sha} is not the pinned {preset.sha256} of {preset.repo}"
            f"@{preset.revision}; delete it from the Hugging Face cache and download it again"
        )
    if preset is not None and preset.sha256 is None:
        raise UserError(f"{preset.name}: no pinned sha256 is known for {preset.repo}; refusing to load")
    encoder = load_hf_clip_encoder(
        files, device=options.device, dtype=getattr(torch, _DTYPES[options.dtype])
    )
    try:
        pre = HfPreprocess.from_config(files.processor_dict(), encoder.arch.image_size)
    except (TypeError, ValueError, AttributeError) as exc:
        raise UserError(
            f"{files.processor} ({files.source}): not a CLIP preprocessor config "
            f"({type(exc).__name__}: {str(exc)[:160]})"
        ) from None
    if files.processor is None and preset is not None:
        pre = preset.preprocess
    return (cls or HfClipBackbone)(
        preset.name if preset else name, encoder, sha, pre, options.dtype,
        revision=files.revision, source=files.source,
        description=preset.description if preset else f"Hugging Face CLIP {files.source}",
    )


class HfClipBackbone(ClipBackbone):
    """A transformers ``CLIPModel`` from the hub or a folder: image ``embed`` and texts."""

    outputs = ("embed",)

    def __init__(
        self, name: str, encoder, weights_sha256: str, pre: HfPreprocess, dtype: str = "fp32",
        revision: str | None = None, source: str | None = None, description: str = "",
    ) -> None:
        self.name = name
        self.encoder = encoder.eval()
        self.weights_sha256 = weights_sha256
        self.dtype = dtype
        self.pre = pre
        self.revision = revision
        self.source = source or name
        self.description = description

    @property
    def key(self) -> str:
        return f"{self.name}/{self.weights_sha256[:16]}/{self.pre.tag()}/{self.dtype}/v1"

    @property
    def text_key(self) -> str:
        from genmetrics.backbones.clip.backbone import text_cache_key

        return text_cache_key(self.name, self.weights_sha256, self.dtype)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return hf_clip_preprocess(image, self.pre)

    @property
    def logit_scale(self) -> float:
        """``exp(logit_scale)`` of the checkpoint (CLIP's learned temperature)."""
        return float(self.encoder.model.logit_scale.detach().float().exp().cpu())

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "network": self.description,
            "source": self.source,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
            "architecture": {
                "embed_dim": self.encoder.arch.embed_dim,
                "vision_width": self.encoder.arch.vision_width,
                "vision_layers": self.encoder.arch.vision_layers,
                "patch_size": self.encoder.arch.patch_size,
            },
            "preprocess": {
                "shortest_edge": self.pre.shortest_edge,
                "crop": self.pre.crop,
                "mean": list(self.pre.mean),
                "std": list(self.pre.std),
                "resize": "PIL bicubic",
                "crop_offset": "(h - crop) // 2",
            },
            "image_size": self.encoder.arch.image_size,
            "dtype": self.dtype,
        }


def resolve_hf_clip(name: str):
    """Backbone resolver: a factory for hub ids and folders, None for other names. A name
    with a ``/`` that is neither is a :class:`UserError` saying why (no built-in name has
    one)."""
    if name in HF_CLIP_PRESETS:
        return None
    if not is_hf_clip_name(name):
        if "/" in name:
            raise UserError(f"'{name}' is neither a folder nor a Hugging Face id ({ID_RULE})")
        return None
    return lambda options, name=name: create_hf_clip(name, options)


def register() -> None:
    """Register the resolver (hub ids, folders). Presets register in ``backbones.reward``."""
    from genmetrics.backbones.registry import register_backbone_resolver

    register_backbone_resolver(resolve_hf_clip)
