"""The composition root: the one place that fills the registries.

Registries (backbones, weights, metrics) are plain tables that know nothing of what goes in
them; :func:`load` registers the built-in backbones with their weights and the built-in
metrics, then the plugins. Nothing registers at import time, so importing a low layer never
pulls in the layers above it. Every entry point (the pipeline, the CLI) calls :func:`load`
first; it runs once per process.

Plugins add backbones and metrics without forking: a module named in ``GENMETRICS_PLUGINS``
(comma-separated) or an entry point in the ``genmetrics.plugins`` group is imported, and its
``register()`` function, when it has one, is called. Plugins load in every process of a
distributed run too, since each process calls :func:`load`.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points

from genmetrics.errors import UserError

PLUGIN_ENV = "GENMETRICS_PLUGINS"
PLUGIN_GROUP = "genmetrics.plugins"

_lock = threading.Lock()
_loaded = False


def load() -> None:
    """Register everything built in, then the plugins (idempotent, thread-safe)."""
    global _loaded
    with _lock:
        if _loaded:
            return
        _register_builtins()
        _load_plugins()
        _loaded = True


def _register_builtins() -> None:
    """Every built-in backbone (with its weights) and metric (with its options)."""
    from genmetrics.backbones.clip import backbone as clip
    from genmetrics.backbones.clip import cmmd
    from genmetrics.backbones.dinov2 import backbone as dinov2
    from genmetrics.backbones.inception import backbone as inception
    from genmetrics.backbones.reward import register as reward_backbones
    from genmetrics.metrics import distribution, reward, text_image

    for register in (
        inception.register,  # TF-2015 FID Inception: pool3, logits, sFID's spatial features
        clip.register,  # OpenAI CLIP, OpenCLIP ViT-H-14, HPS v2/v2.1, LAION aesthetic heads
        cmmd.register,  # CLIP ViT-L/14-336 with CMMD's resize
        dinov2.register,  # DINOv2 ViT-S/B/L/g 14 (FD-DINOv2)
        reward_backbones,  # PickScore, ImageReward, CLIP from a Hugging Face id or folder
        distribution.register,  # FID, KID, IS, P/R, D/C, sFID, FD/KD on any space, CMMD, FD∞, SWD
        text_image.register,  # CLIP score, directional similarity, aesthetic, HPS, zero-shot
        reward.register,  # PickScore, ImageReward
    ):
        register()


def plugin_modules() -> list[str]:
    """Module names of the plugins: ``GENMETRICS_PLUGINS`` first, then entry points."""
    names = [n.strip() for n in os.environ.get(PLUGIN_ENV, "").split(",") if n.strip()]
    for ep in entry_points(group=PLUGIN_GROUP):
        names.append(ep.value.split(":")[0])
    return list(dict.fromkeys(names))


def _load_plugins() -> None:
    for name in plugin_modules():
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise UserError(
                f"plugin {name!r} (from {PLUGIN_ENV} or the {PLUGIN_GROUP} entry points) "
                f"cannot be imported: {exc}; install it or remove it from {PLUGIN_ENV}"
            ) from None
        register = getattr(module, "register", None)
        if callable(register):
            register()
