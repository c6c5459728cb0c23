"""Device names: ``auto`` (the default), ``cpu``, ``cuda``, ``cuda:N`` and ``mps``.

One resolver for every command, run before any heavy work: a device this torch build or
machine cannot use is a :class:`UserError` naming the device and what is available, never a
traceback from deep inside a forward pass (nor a silent success when every feature is cached).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

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


def _fp32_knobs():
    """(object, attribute) pairs that decide whether float32 convolutions and matmuls may
    run in TF32 on CUDA: torch's ``fp32_precision`` settings where this torch has them, else
    the older ``allow_tf32`` flags."""
    import torch

    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    matmul = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if conv is not None and matmul is not None:
        return [(torch.backends.cudnn.conv, "fp32_precision"),
                (torch.backends.cuda.matmul, "fp32_precision")], ("ieee", "tf32")
    return [(torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")], (False, True)


@contextlib.contextmanager
def float32_precision(allow_tf32: bool) -> Iterator[None]:
    """Run the block with true float32 arithmetic on CUDA (TF32 off), or with TF32 allowed;
    the caller's settings are restored afterwards, whatever they were."""
    knobs, (ieee, tf32) = _fp32_knobs()
    saved = [getattr(obj, attr) for obj, attr in knobs]
    try:
        for obj, attr in knobs:
            setattr(obj, attr, tf32 if allow_tf32 else ieee)
        yield
    finally:
        for (obj, attr), value in zip(knobs, saved, strict=True):
            setattr(obj, attr, value)


class PinnedStager:
    """Reusable page-locked host buffers for host batches (uint8 pixels or floats): a copy
    into pinned memory, then an asynchronous copy to the GPU. A buffer is reused only after the copy that read it has
    finished (an event per buffer), so the host never overwrites bytes still in flight."""

    def __init__(self, slots: int = 4) -> None:
        self._slots: list = [None] * slots  # (buffer, event)
        self._next = 0

    def to_device(self, host, device):
        import torch

        nbytes = host.nbytes
        slot = self._next
        self._next = (self._next + 1) % len(self._slots)
        entry = self._slots[slot]
        if entry is not None:
            entry[1].synchronize()
        if entry is None or entry[0].numel() < nbytes:
            buf = torch.empty(max(nbytes, 1), dtype=torch.uint8, pin_memory=True)
            entry = [buf, torch.cuda.Event()]
            self._slots[slot] = entry
        dtype = torch.from_numpy(host[:0]).dtype
        staged = entry[0][:nbytes].view(dtype).view(host.shape)
        staged.numpy()[...] = host
        out = staged.to(device, non_blocking=True)
        entry[1].record()
        return out
