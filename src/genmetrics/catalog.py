"""The composition root: the one place that fills the registries.

Registries (backbones, weights, metrics) are plain tables that know nothing of what goes in
them; :func:`load` registers the built-in backbones with their weights and the built-in
metrics, then the plugins. Nothing registers at import time, so importing a low layer never
pulls in the layers above it. Every entry point (the pipeline, the CLI) calls :func:`load`
first; it runs once per process.

Registration is declarative and cheap (names, descriptions, options, requirements, weight
specs): the modules :func:`load` imports must not import torch, scipy or transformers at
module level; factories and compute functions import the heavy parts when they run, so
``genmetrics --help`` and the listings start in a fraction of a second
(``tests/cli/test_startup.py`` holds every command's start-up to that).

Plugins add backbones and metrics without forking: a module named in ``GENMETRICS_PLUGINS``
(comma-separated) or an entry point in the ``genmetrics.plugins`` group is imported, and its
``register()`` function, when it has one, is called. A name already registered (a built-in
metric, say) is refused unless the plugin passes ``replace=True``, which result manifests
record. A plugin that fails (at import, a syntax error, in ``register()``) is one error line
naming it and the fix. Plugins load in every process of a distributed run too, since each
process calls :func:`load`.
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
_failure: UserError | None = None


def load() -> None:
    """Register everything built in, then the plugins (idempotent, thread-safe). A plugin
    failure is a :class:`UserError`, raised again by every later call."""
    global _loaded, _failure
    with _lock:
        if not _loaded:
            _loaded = True  # once, even if a plugin fails: nothing registers twice
            _register_builtins()
            try:
                _load_plugins()
            except UserError as exc:
                _failure = exc
        if _failure is not None:
            raise _failure


def _register_builtins() -> None:
    """Every built-in backbone (with its weights) and metric (with its options)."""
    from genmetrics.backbones.clip import backbone as clip
    from genmetrics.backbones.clip import cmmd
    from genmetrics.backbones.dinov2 import backbone as dinov2
    from genmetrics.backbones.inception import backbone as inception
    from genmetrics.backbones.inception import taps as inception_taps
    from genmetrics.backbones.lpips import register as lpips_weights
    from genmetrics.backbones.reward import register as reward_backbones
    from genmetrics.metrics import distribution, reward, text_image

    for register in (
        inception.register,  # TF-2015 FID Inception: pool3, logits, sFID's spatial features
        inception_taps.register,  # its 64/192/768 taps (torchmetrics' feature=…), own cache keys
        clip.register,  # OpenAI CLIP, OpenCLIP ViT-H-14, HPS v2/v2.1, LAION aesthetic heads
        cmmd.register,  # CLIP ViT-L/14-336 with CMMD's resize
        dinov2.register,  # DINOv2 ViT-S/B/L/g 14 (FD-DINOv2)
        reward_backbones,  # PickScore, ImageReward, CLIP from a Hugging Face id or folder
        lpips_weights,  # LPIPS trunks (torchvision) and v0.1 heads, for pair/compare
        distribution.register,  # FID, KID, IS, P/R, D/C, sFID, FD/KD on any space, CMMD, FD∞, SWD
        text_image.register,  # CLIP score, directional similarity, aesthetic, HPS, zero-shot
        reward.register,  # PickScore, ImageReward
    ):
        register()


def plugin_modules() -> list[str]:
    """Module names of the plugins: ``GENMETRICS_PLUGINS`` first, then entry points."""
    return list(_plugin_sources())


def _plugin_sources() -> dict[str, tuple[str, str]]:
    """Plugin module → (where it was named, how to remove it), in load order."""
    out: dict[str, tuple[str, str]] = {}
    for name in os.environ.get(PLUGIN_ENV, "").split(","):
        if name.strip():
            out.setdefault(name.strip(), (f"from {PLUGIN_ENV}", f"remove it from {PLUGIN_ENV}"))
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        where = f"entry point '{ep.name}' of the {PLUGIN_GROUP} group" + (f", package {dist}" if dist else "")
        fix = f"uninstall it (pip uninstall {dist})" if dist else "uninstall the package that declares it"
        out.setdefault(ep.value.split(":")[0].strip(), (where, fix))
    return out


def _describe(exc: BaseException, module: str) -> str:
    """``Type: message`` on one line, with where in the plugin's own files it was raised."""
    import traceback

    text = " ".join(str(exc).split()) or "(no message)"
    if len(text) > 300:
        text = text[:297] + "..."
    where = ""
    top = module.split(".")[0]
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f"/{top}" in f.filename.replace(os.sep, "/") or f.filename.endswith(f"{top}.py")]
    if frames and not isinstance(exc, SyntaxError):  # a SyntaxError names file and line itself
        where = f" at {frames[-1].filename}:{frames[-1].lineno}"
    return f"{type(exc).__name__}: {text}{where}"


def _load_plugins() -> None:
    from genmetrics.overrides import registering

    for name, (where, fix) in _plugin_sources().items():
        label = f"plugin '{name}' ({where})"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                raise UserError(
                    f"{label} cannot be imported: no module named '{exc.name}'; install it, "
                    f"or {fix}"
                ) from None
            raise UserError(f"{label} failed while importing: {_describe(exc, name)}; install "
                            f"what it needs, fix the plugin, or {fix}") from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any plugin failure is one line
            raise UserError(f"{label} failed while importing: {_describe(exc, name)}; fix the "
                            f"plugin, or {fix}") from None
        register = getattr(module, "register", None)
        if not callable(register):
            continue
        try:
            with registering(f"plugin '{name}'"):
                register()
        except UserError as exc:
            raise UserError(f"{label}: register() refused: {exc}; or {fix}") from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            raise UserError(f"{label}: register() failed: {_describe(exc, name)}; fix the "
                            f"plugin, or {fix}") from None
