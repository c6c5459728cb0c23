"""DINOv2 ViTs as registered backbones: ``dinov2-vit-{s,b,l,g}14``.

Output ``cls`` is the class token after the final LayerNorm (``x_norm_clstoken`` of the
original code, transformers' ``pooler_output``): the feature dgm-eval's FD_DINOv2 uses.
Images go through :func:`~.preprocess.dinov2_preprocess` (224x224, see there): resized on
the host, normalised on the device.

At 224 px the 37x37 position embeddings (trained at 518 px) are resized to 16x16. The original
code resizes them with bicubic ``interpolate(scale_factor=(16 + 0.1) / 37)``; transformers 5.x
uses ``size=(16, 16)``, which maps coordinates differently and changes the features. The model
here always uses the original rule (:func:`original_pos_embed`), so it equals the published
DINOv2 whatever the transformers version.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np

from genmetrics.backbones.dinov2.configs import Dinov2Arch, dinov2_config, get_arch
from genmetrics.backbones.dinov2.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INPUT_SIZE,
    PREPROCESS_ID,
    dinov2_resize,
)
from genmetrics.backbones.feed import DeviceFeed
from genmetrics.backbones.registry import Backbone, BackboneOptions, register_backbone
from genmetrics.devices import float32_precision
from genmetrics.errors import UserError
from genmetrics.optional import require

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
INTERPOLATE_OFFSET = 0.1


def original_pos_embed(pos_embed, height: int, width: int, patch_size: int):
    """Position embeddings for a ``height`` x ``width`` input, as facebookresearch/dinov2
    computes them: bicubic, ``scale_factor = (n + 0.1) / sqrt(N)``, no antialiasing, float32."""
    import torch
    import torch.nn.functional as F

    n_pos = pos_embed.shape[1] - 1
    h0, w0 = height // patch_size, width // patch_size
    side = int(math.sqrt(n_pos))
    if h0 * w0 == n_pos and h0 == w0 == side:
        return pos_embed
    dim = pos_embed.shape[-1]
    dtype = pos_embed.dtype
    grid = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid,
        scale_factor=((h0 + INTERPOLATE_OFFSET) / side, (w0 + INTERPOLATE_OFFSET) / side),
        mode="bicubic",
    )
    if grid.shape[-2:] != (h0, w0):  # pragma: no cover - guarded by the 0.1 offset
        raise RuntimeError(f"position grid {tuple(grid.shape[-2:])} != {(h0, w0)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, dim)
    return torch.cat([pos_embed[:, :1].float(), grid], dim=1).to(dtype)


def build_model(arch: Dinov2Arch, state_dict: dict, device: str = "cpu", dtype=None):
    """A transformers ``Dinov2Model`` for ``arch`` loaded from an original-layout state dict,
    with the original position-embedding interpolation."""
    import torch

    from genmetrics.backbones.dinov2.convert import to_transformers, transformers_style

    transformers = require("transformers", "DINOv2 backbones")
    model = transformers.Dinov2Model(dinov2_config(arch))
    mapped = to_transformers(state_dict, transformers_style(model.state_dict().keys()))
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.startswith("pooler")]
    if missing or unexpected:
        raise UserError(
            f"DINOv2 {arch.name} weights do not fit the architecture (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}); re-import them with genmetrics weights import"
        )
    emb = model.embeddings

    def interpolate(self, embeddings, height, width):
        return original_pos_embed(self.position_embeddings, height, width, arch.patch_size)

    emb.interpolate_pos_encoding = types.MethodType(interpolate, emb)
    model = model.to(device=torch.device(device), dtype=dtype or torch.float32).eval()
    model.requires_grad_(False)
    return model


class Dinov2Backbone(Backbone):
    """CLS features (output ``cls``) of one DINOv2 ViT."""

    outputs = ("cls",)

    def __init__(
        self, name: str, arch: Dinov2Arch, model: Any, weights_sha256: str, dtype: str = "fp32",
        device: str = "cpu", source_sha256: str | None = None,
    ) -> None:
        """``model`` is a loaded ``Dinov2Model`` or a callable building it (called on the first
        forward, so a fully cached run never builds the network)."""
        self.name = name
        self.arch = arch
        self._model = model
        self.source_sha256 = source_sha256
        self.weights_sha256 = weights_sha256
        self.dtype = dtype
        self.device = device
        self.output_dims = {"cls": arch.hidden_size}
        self.allow_tf32 = False
        """TF32 for float32 matmuls on CUDA (off unless asked: see :meth:`create`)."""
        self._feed: DeviceFeed | None = None

    @classmethod
    def create(cls, name: str, options: BackboneOptions) -> Dinov2Backbone:
        import torch
        from safetensors.torch import load_file

        from genmetrics.backbones.dinov2.weights import DINOV2_WEIGHTS, dinov2_weight_spec
        from genmetrics.weights.store import check_weights_file, ensure_weights, file_sha256

        if options.dtype not in _DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(_DTYPES)} for {name}")
        require("transformers", f"{name} (DINOv2 features)")
        spec = dinov2_weight_spec(name)
        path = ensure_weights(spec, options.offline)
        sha = file_sha256(path)
        arch = get_arch(DINOV2_WEIGHTS[name].arch)

        def load():
            check_weights_file(path, sha, name=name)  # every load hashes the file
            return build_model(arch, load_file(str(path)), options.device,
                               getattr(torch, _DTYPES[options.dtype]))

        backbone = cls(name, arch, load, sha, options.dtype, options.device, spec.sha256)
        backbone.allow_tf32 = options.allow_tf32 and options.dtype == "fp32" and "cuda" in options.device
        return backbone

    @property
    def model(self):
        if callable(self._model) and not hasattr(self._model, "parameters"):
            self._model = self._model()
        return self._model

    @property
    def key(self) -> str:
        dtype = f"{self.dtype}-tf32" if self.allow_tf32 else self.dtype
        return f"{self.name}/{self.weights_sha256[:16]}/{PREPROCESS_ID}/{dtype}/v1"

    def describe_output(self, output: str) -> str:
        return f"{self.name}'s {self.arch.hidden_size}-d CLS features"

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """uint8 224×224×3: the ImageNet normalisation runs on the device (bit-identical)."""
        return dinov2_resize(image, INPUT_SIZE)

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        param = next(self.model.parameters())
        if self._feed is None:
            self._feed = DeviceFeed(param.device)
        with torch.inference_mode(), float32_precision(self.allow_tf32):
            x = self._feed.normalized(batch, IMAGENET_MEAN, IMAGENET_STD).to(param.dtype)
            out = self.model(pixel_values=x)
        return {"cls": out.pooler_output.float().cpu().numpy()}

    def manifest(self) -> dict[str, Any]:
        from genmetrics.backbones.dinov2.weights import DINOV2_WEIGHTS

        w = DINOV2_WEIGHTS.get(self.name)
        return {
            "name": self.name,
            "key": self.key,
            "network": f"DINOv2 {self.arch.name} (transformers Dinov2Model, original pos-embed "
                       "interpolation)",
            "output": "cls (class token after the final LayerNorm)",
            "weights_sha256": self.weights_sha256,
            "weights_source": f"{w.repo}@{w.revision or 'main'} model.safetensors" if w else None,
            "weights_source_sha256": self.source_sha256,
            "preprocess": PREPROCESS_ID + " (PIL bicubic to 224x224, ImageNet mean/std)",
            "input_size": INPUT_SIZE,
            "dtype": self.dtype,
            "tf32": self.allow_tf32,
            "device": str(self.device),
        }


def register() -> None:
    from genmetrics.backbones.dinov2.weights import DINOV2_WEIGHTS, dinov2_weight_spec
    from genmetrics.weights.store import register_weights

    for name in DINOV2_WEIGHTS:
        register_weights(dinov2_weight_spec(name))
        register_backbone(
            name, lambda options, name=name: Dinov2Backbone.create(name, options),
            requires=("transformers",),
            weights=(name,),
        )
