"""Leave the caller's process as it was: a training loop that calls the Evaluator must see the
same random streams, grad mode and numeric flags afterwards, whatever ran inside.

:func:`preserved` snapshots, and restores on exit (also after an error):

* the global random generators: Python's ``random``, numpy's legacy global ``RandomState``,
  torch's CPU generator and, when CUDA is already initialised, every CUDA generator and the
  current CUDA device;
* torch's grad mode (the block itself runs without grad, and without the caller's autocast:
  the networks run in the dtype the manifest records);
* cuDNN ``enabled``/``benchmark``/``deterministic``, the TF32 switches (the ``fp32_precision``
  settings of torch ≥ 2.9, else ``allow_tf32``), reduced-precision reductions, the float32
  matmul precision, deterministic-algorithms mode, the default dtype and the number of threads.

A switch is written back only when it changed (the float32 matmul precision first, then the
finer switches), so the legacy and the new TF32 interfaces are never mixed. The caller's model
is never touched: the Evaluator runs its own networks.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

_SWITCHES = (
    ("backends.cudnn", "enabled"),
    ("backends.cudnn", "benchmark"),
    ("backends.cudnn", "deterministic"),
    ("backends.cuda.matmul", "allow_fp16_reduced_precision_reduction"),
    ("backends.cuda.matmul", "allow_bf16_reduced_precision_reduction"),
)
_TF32_NEW = (
    ("backends", "fp32_precision"),
    ("backends.cuda.matmul", "fp32_precision"),
    ("backends.cudnn", "fp32_precision"),
    ("backends.cudnn.conv", "fp32_precision"),
    ("backends.cudnn.rnn", "fp32_precision"),
    ("backends.mkldnn", "fp32_precision"),
    ("backends.mkldnn.matmul", "fp32_precision"),
    ("backends.mkldnn.conv", "fp32_precision"),
    ("backends.mkldnn.rnn", "fp32_precision"),
)
_TF32_LEGACY = (("backends.cudnn", "allow_tf32"), ("backends.cuda.matmul", "allow_tf32"))
"""(module path under ``torch``, attribute): the switches snapshotted where this torch has
them. TF32 through the ``fp32_precision`` settings where they exist (reading the legacy
``allow_tf32`` after a mix of both interfaces is an error in torch ≥ 2.9), else the legacy ones."""


def _flags(torch: Any) -> tuple[tuple[str, str], ...]:
    new = getattr(torch.backends.cuda.matmul, "fp32_precision", None) is not None
    return (*_SWITCHES, *(_TF32_NEW if new else _TF32_LEGACY))


def _resolve(torch: Any, path: str) -> Any:
    obj = torch
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def snapshot() -> dict[str, Any]:
    """Everything :func:`preserved` restores (also used by the tests to compare)."""
    import torch

    flags = {}
    for path, attr in _flags(torch):
        obj = _resolve(torch, path)
        try:
            if obj is not None and hasattr(obj, attr):
                flags[(path, attr)] = getattr(obj, attr)
        except RuntimeError:  # torch refuses to read a switch the caller left mixed
            continue
    state: dict[str, Any] = {
        "python_random": random.getstate(),
        "numpy_random": np.random.get_state(),
        "torch_random": torch.get_rng_state(),
        "grad": torch.is_grad_enabled(),
        "flags": flags,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "default_dtype": torch.get_default_dtype(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_random"] = torch.cuda.get_rng_state_all()
        state["cuda_device"] = torch.cuda.current_device()
    return state


def restore(state: dict[str, Any]) -> None:
    """Put back what :func:`snapshot` saw (switches only where they changed)."""
    import torch

    random.setstate(state["python_random"])
    np.random.set_state(state["numpy_random"])
    torch.set_rng_state(state["torch_random"])
    if "cuda_random" in state:
        torch.cuda.set_rng_state_all(state["cuda_random"])
        if torch.cuda.current_device() != state["cuda_device"]:
            torch.cuda.set_device(state["cuda_device"])
    if torch.get_float32_matmul_precision() != state["matmul_precision"]:
        torch.set_float32_matmul_precision(state["matmul_precision"])  # before the finer switches
    for (path, attr), value in state["flags"].items():
        obj = _resolve(torch, path)
        try:
            changed = getattr(obj, attr) != value
        except RuntimeError:
            changed = True
        if changed:
            setattr(obj, attr, value)
    enabled, warn_only = state["deterministic"]
    if (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled()) != (enabled, warn_only):
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    if torch.get_default_dtype() != state["default_dtype"]:
        torch.set_default_dtype(state["default_dtype"])
    if torch.get_num_threads() != state["threads"]:
        torch.set_num_threads(state["threads"])
    torch.set_grad_enabled(state["grad"])


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Run the block without grad and without autocast, and give the caller back its state
    (see module docstring)."""
    import torch

    saved = snapshot()
    try:
        with torch.no_grad(), contextlib.ExitStack() as stack:
            for device in ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
                stack.enter_context(torch.autocast(device, enabled=False))  # our networks' dtype
            yield
    finally:
        restore(saved)
