"""DreamSim's published weights → :class:`~.network.DreamSimNetwork`.

Sources, as the reference code fetches them:

* the checkpoint zip of each type from the v0.2.0 release of ssundaram21/dreamsim
  (``dreamsim_{type}_checkpoint.zip``): the CLIP branches in DINO layout
  (``{clip,open_clip}_vitbNN_pretrain.pth.tar``: ``{"state_dict": {..., "proj"}}``) and the
  LoRA adapter (``{ensemble,TYPE_single}_lora/adapter_config.json`` and
  ``adapter_model.{bin,safetensors}``, peft's names
  ``base_model.model.extractor_list.I.model.blocks.N.attn.qkv.lora_{A,B}.weight``);
* for the DINO branch, DINO's ViT-B/16 backbone (``dino_vitbase16_pretrain.pth``, what
  ``torch.hub.load('facebookresearch/dino:main', 'dino_vitb16')`` loads).

No sha256 of these files is published where it could be checked, so — as for HPSv3 — they are
used only once the user vouches for them: put the files in ``$GENMETRICS_HOME/weights/dreamsim/``
(or let them download) and set ``GENMETRICS_DREAMSIM_SHA256`` (the zip) and, for the types
with a DINO branch, ``GENMETRICS_DINO_VITB16_SHA256``; each file is hashed on every load and
its sha256 recorded with every value. Everything is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from genmetrics.backbones.dreamsim.network import (
    DREAMSIM_TYPES,
    DreamSimNetwork,
    ViTSize,
    merge_lora,
)
from genmetrics.errors import MissingWeightsError, UserError

__all__ = ["DINO_URL", "PIN_ENVS", "ZIP_URL", "branch_states", "load_dreamsim"]

ZIP_URL = "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_{}_checkpoint.zip"
DINO_URL = "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"
PIN_ENVS = {"zip": "GENMETRICS_DREAMSIM_SHA256", "dino": "GENMETRICS_DINO_VITB16_SHA256"}


def _folder() -> Path:
    from genmetrics.weights.store import genmetrics_home

    return genmetrics_home() / "weights" / "dreamsim"


def _load_bytes(data: bytes, what: str) -> Any:
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable member is one user error
        raise UserError(f"{what}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None


def _member(zf: zipfile.ZipFile, suffix: str, where: Path) -> str:
    names = [n for n in zf.namelist() if n == suffix or n.endswith("/" + suffix)]
    if not names:
        raise UserError(f"{where} has no {suffix}; is it the DreamSim checkpoint zip of this type?")
    return names[0]


def _lora(zf: zipfile.ZipFile, tag: str, where: Path) -> tuple[dict[str, Any], float]:
    config = json.loads(zf.read(_member(zf, f"{tag}_lora/adapter_config.json", where)))
    scale = float(config["lora_alpha"]) / float(config["r"])
    if list(config.get("target_modules") or []) != ["qkv"]:
        raise UserError(f"{where}: LoRA on {config.get('target_modules')}, expected ['qkv']")
    try:
        name = _member(zf, f"{tag}_lora/adapter_model.safetensors", where)
        from safetensors.torch import load as load_safetensors

        tensors = load_safetensors(zf.read(name))
    except UserError:
        tensors = _load_bytes(zf.read(_member(zf, f"{tag}_lora/adapter_model.bin", where)), str(where))
    return {k.replace(".default", ""): v for k, v in tensors.items()}, scale


def branch_states(kind: str, zip_path: Path, dino_state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each branch's DINO-layout state dict with the LoRA merged (``dino_state``: DINO's
    backbone, for the types with a DINO branch)."""
    branches = DREAMSIM_TYPES[kind]
    tag = "ensemble" if kind == "ensemble" else f"{kind}_single"
    with zipfile.ZipFile(zip_path) as zf:
        lora, scale = _lora(zf, tag, zip_path)
        states = []
        for i, branch in enumerate(branches):
            if branch.startswith("dino"):
                if dino_state is None:
                    raise UserError(f"DreamSim {kind} needs DINO's ViT-B/16 backbone ({DINO_URL})")
                state = {k: v for k, v in dino_state.items() if not k.startswith("head")}
            else:
                obj = _load_bytes(zf.read(_member(zf, f"{branch}_pretrain.pth.tar", zip_path)), str(zip_path))
                state = dict(obj.get("state_dict", obj)) if isinstance(obj, dict) else {}
            states.append(merge_lora(state, lora, f"base_model.model.extractor_list.{i}.model.", scale))
    return states


def _vouched(path: Path, env: str, url: str, offline: bool | None) -> str:
    """The file at ``path`` (downloaded when missing and allowed), checked against ``env``."""
    from genmetrics.weights.store import offline_mode, sha256_file

    pin = os.environ.get(env, "").strip().lower()
    if not pin:
        raise UserError(
            f"DreamSim: no sha256 of {url} is published where genmetrics could check it, so "
            f"unverified weights are not loaded; download it into {path.parent}, check it "
            f"yourself and set {env} to its sha256 (then verified on every load)"
        )
    if not path.exists():
        if offline_mode(offline):
            raise MissingWeightsError(
                f"DreamSim weights {path.name} are not in {path.parent} and cannot be downloaded "
                f"offline; they come from {url}: download the file there"
            )
        import shutil
        import tempfile
        import urllib.request

        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
                shutil.copyfileobj(resp, out, 1 << 20)
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise MissingWeightsError(f"DreamSim: downloading {url} failed ({exc})") from None
    found = sha256_file(path)
    if found != pin:
        raise UserError(f"{path}: sha256 {found} is not the {pin} set in {env}; download it again")
    return found


def load_dreamsim(kind: str = "ensemble", device: str = "cpu", offline: bool | None = None):
    """The DreamSim network of ``kind`` on ``device`` and what loaded it (sha256 of each file)."""
    if kind not in DREAMSIM_TYPES:
        raise UserError(f"--dreamsim-type must be one of {', '.join(DREAMSIM_TYPES)}, got {kind!r}")
    folder = _folder()
    zip_path = folder / Path(ZIP_URL.format(kind)).name
    info: dict[str, Any] = {"checkpoint": zip_path.name,
                            "checkpoint_sha256": _vouched(zip_path, PIN_ENVS["zip"], ZIP_URL.format(kind), offline)}
    dino_state = None
    if any(b.startswith("dino") for b in DREAMSIM_TYPES[kind]):
        dino_path = folder / Path(DINO_URL).name
        info["dino_backbone_sha256"] = _vouched(dino_path, PIN_ENVS["dino"], DINO_URL, offline)
        dino_state = _load_bytes(dino_path.read_bytes(), str(dino_path))
    states = branch_states(kind, zip_path, dino_state)
    return DreamSimNetwork.from_state_dicts(kind, states, size_of(states)).to(device), info


def size_of(states: list[dict[str, Any]]) -> ViTSize:
    """The ViT size the weights have (ViT-B for the published ones; heads of 64 channels)."""
    first = states[0]
    try:
        width = int(first["pos_embed"].shape[-1])
        depth = 1 + max(int(k.split(".")[1]) for k in first if k.startswith("blocks."))
        mlp = int(first["blocks.0.mlp.fc1.weight"].shape[0])
    except (KeyError, ValueError) as exc:
        raise UserError(f"DreamSim weights lack {exc}; check the checkpoint") from None
    embed = next((int(s["proj"].shape[1]) for s in states if "proj" in s), 512)
    return ViTSize(width, depth, max(1, width // 64), mlp, embed)
