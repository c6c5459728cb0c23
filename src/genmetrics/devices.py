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
    """``auto``/None → ``cuda`` when available, else ``cpu``; other names are checked
    (``cpu`` without importing torch: a fully cached CPU run never needs it)."""
    name = "auto" if device is None else str(device).strip().lower()
    match = _PATTERN.match(name)
    if match is None:
        raise UserError(
            f"--device {device!r} is not a device name; use auto, cpu, cuda, cuda:N or mps"
        )
    kind, index = match.group(1), match.group(2)
    if kind == "cpu" or (kind == "auto" and _no_gpu_device_nodes()):
        return "cpu"
    import torch

    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
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


_GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")
"""NVIDIA, WSL2 and ROCm device nodes: a Linux machine without any of them has no GPU torch
could use, so ``auto`` is ``cpu`` there without importing torch (a cached run stays light)."""


def _no_gpu_device_nodes() -> bool:
    import os
    import sys

    return sys.platform.startswith("linux") and not any(map(os.path.exists, _GPU_DEVICE_NODES))


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


HOST_ALLOCATOR_ENV = "GENMETRICS_TUNE_MALLOC"
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def tune_host_allocator() -> bool:
    """Keep freed activation buffers in the process heap (glibc only; the CLI calls this).

    glibc serves blocks over its mmap threshold (at most 32 MiB by default) with fresh
    ``mmap`` calls and unmaps them on free, so every CPU batch of a convolutional network
    page-faults its activations in again: ~10 % of a CPU FID run went to the kernel zeroing
    pages. Raising the mmap and trim thresholds reuses the memory instead; the resident size
    stays at the batch's peak, which the run reaches anyway. Numbers are unchanged.
    ``GENMETRICS_TUNE_MALLOC=0`` leaves the allocator alone. Returns whether it was tuned.
    """
    import os
    import sys

    if os.environ.get(HOST_ALLOCATOR_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    gib = 1 << 30
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, gib),
            (_M_TRIM_THRESHOLD, 2 * gib - 1),
            (_M_TOP_PAD, 256 << 20),
        )
    )
