"""DINOv2 preprocessing as dgm-eval (Stein et al. 2023) feeds its FD_DINOv2 encoder.

dgm-eval's default transform is ``Resize((224, 224), BICUBIC)`` on the PIL image (PIL's
antialiased bicubic, *both* sides to 224: no aspect-preserving crop), ``ToTensor`` (/255) and
``Normalize`` with the ImageNet mean/std, in float32. We follow it rather than DINOv2's own
evaluation transform (resize 256 + centre crop 224) so FD_DINOv2 numbers are comparable with
those published with dgm-eval, which introduced the metric.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from genmetrics.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
PREPROCESS_ID = "dgm-eval-bicubic224"


def dinov2_resize(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """HxWx3 uint8 RGB → size×size×3 uint8, PIL bicubic (the host's part; the ImageNet
    normalisation of :func:`dinov2_preprocess` may run on the device)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(
            f"DINOv2 preprocessing takes an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}"
        )
    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    return image


def dinov2_preprocess(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """HxWx3 uint8 RGB → 3×size×size float32 (see the module docstring)."""
    image = dinov2_resize(image, size)
    x = image.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(IMAGENET_MEAN, dtype=np.float32)) / np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
