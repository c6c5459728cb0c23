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


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (e.g. ``"transformers"``) or raise a one-line :class:`UserError`."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        extra = EXTRAS.get(top)
        how = f"pip install 'genmetrics[{extra}]'" if extra else f"pip install {top}"
        raise UserError(f"{purpose} needs the Python package '{top}', which is not installed; run: {how}") from None
