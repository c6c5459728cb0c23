"""Device names: ``auto`` (the default), ``cpu``, ``cuda``, ``cuda:N`` and ``mps``.

One resolver for every command, run before any heavy work: a device this torch build or
machine cannot use is a :class:`UserError` naming the device and what is available, never a
traceback from deep inside a forward pass (nor a silent success when every feature is cached).
"""

from __future__ import annotations

import re

from genmetrics.errors import UserError

_PATTERN = re.compile(r"^(auto|cpu|cuda|mps)(?::(\d+))?$")


def available_devices() -> list[str]:
    """Device names usable here, e.g. ``["cpu", "cuda:0"]``."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: object | None) -> str:
    """``auto``/None → ``cuda`` when available, else ``cpu``; other names are checked."""
    import torch

    name = "auto" if device is None else str(device).strip().lower()
    match = _PATTERN.match(name)
    if match is None:
        raise UserError(
            f"--device {device!r} is not a device name; use auto, cpu, cuda, cuda:N or mps"
        )
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return "cpu"
    here = ", ".join(available_devices())
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise UserError(
                f"--device {name}: {build} (torch {torch.__version__}); available here: {here}; "
                "use --device auto or cpu"
            )
        if index is not None and int(index) >= torch.cuda.device_count():
            raise UserError(f"--device {name}: there is no such GPU; available here: {here}")
        return name
    mps = getattr(torch.backends, "mps", None)
    if index is not None or mps is None or not mps.is_available():
        raise UserError(f"--device {name}: Apple MPS is not available here; available: {here}")
    return "mps"
