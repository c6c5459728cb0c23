"""The CMMD image embedder: OpenAI CLIP ViT-L/14@336px with the official CMMD resize.

google-research ``cmmd`` reads each image, crops the centred square of side ``min(h, w)``
(``top = (h - side) // 2``, ``left = (w - side) // 2``), resizes it to 336x336 with PIL's
bicubic filter (antialiased) on uint8, divides by 255 and normalises with the CLIP mean/std
(its in-model bicubic resize to 336 is then the identity). That differs from OpenAI CLIP's
resize-shortest-side-then-crop (:func:`.preprocess.clip_preprocess`) by the order of crop and
resize, so CMMD gets its own backbone, ``clip-vit-l-14-336-cmmd``, sharing the ViT-L/14-336
weights. Output ``embed`` is the projected image embedding; CMMD L2-normalises it (the official
model returns unit vectors).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from genmetrics.backbones.clip.backbone import ClipBackbone, ClipModelSpec
from genmetrics.backbones.clip.preprocess import normalize
from genmetrics.backbones.registry import register_backbone
from genmetrics.errors import UserError

CMMD_BACKBONE = "clip-vit-l-14-336-cmmd"
CMMD_SPEC = ClipModelSpec(
    CMMD_BACKBONE,
    "ViT-L-14-336",
    "clip-vit-l-14-336-openai",
    "cmmd",
    "OpenAI CLIP ViT-L/14@336px, CMMD preprocessing (centre square, PIL bicubic 336)",
)


def center_square_resize(image: np.ndarray, size: int) -> np.ndarray:
    """The official CMMD crop and resize of an HxWx3 uint8 image (see the module docstring)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(
            f"CMMD preprocessing takes an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}"
        )
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    pil = Image.fromarray(np.ascontiguousarray(square)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(pil)


def cmmd_preprocess(image: np.ndarray, size: int = 336) -> np.ndarray:
    """CMMD preprocessing: 3×size×size float32, CLIP-normalised."""
    return normalize(center_square_resize(image, size))


class CmmdClipBackbone(ClipBackbone):
    """:class:`ClipBackbone` with the CMMD preprocessing (its key says ``cmmd``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        size = self.encoder.arch.image_size
        self._pre = lambda image: center_square_resize(image, size)  # normalised on the device


def register() -> None:
    register_backbone(
        CMMD_BACKBONE,
        lambda options: CmmdClipBackbone.create(CMMD_SPEC, options),
        requires=("transformers",),
        weights=(CMMD_SPEC.weights,),
    )
