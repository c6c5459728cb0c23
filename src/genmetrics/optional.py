"""Optional dependencies: one place that names the extra to install when one is missing.

The core install (``pip install genmetrics``) covers every Inception metric, PSNR/SSIM, the
suites and the CLI. CLIP-family models need the ``clip`` extra (transformers) and generation
the ``generate`` extra (diffusers). A missing one is a :class:`UserError`: one line that names
the package, what needs it and the command that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from genmetrics.errors import UserError

EXTRAS: dict[str, str] = {"transformers": "clip", "diffusers": "generate", "ray": "ray"}
"""Top-level module → the extra of genmetrics that installs it."""


def install_command(module: str, extra: str | None = None) -> str:
    """The pip command that installs ``module``: its genmetrics extra (``extra``, else the one
    :data:`EXTRAS` names) or the package itself."""
    top = module.split(".")[0]
    extra = extra or EXTRAS.get(top)
    return f"pip install 'genmetrics[{extra}]'" if extra else f"pip install {top}"


def is_installed(module: str) -> bool:
    """Whether ``module`` could be imported here (found, not imported)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"transformers"``) or raise a one-line :class:`UserError`
    naming the command that installs it (``extra``: the genmetrics extra, when not the
    default one of :data:`EXTRAS`)."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        how = install_command(top, extra)
        raise UserError(f"{purpose} needs the Python package '{top}', which is not installed; run: {how}") from None
