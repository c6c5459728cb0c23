"""The Evaluator's side of torch.distributed: the process group the training job already runs
in (DDP, Lightning, accelerate, torchrun), never one of its own.

Objects (feature states, the result, an error) travel over a gloo group — the default group
when it is gloo, else one gloo group made once per process — so NCCL jobs need no GPU copy
of them. Nothing here changes the caller's device or group.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from genmetrics.distributed import Context
from genmetrics.errors import UserError

T = TypeVar("T")

_GLOO_GROUPS: dict[int, Any] = {}


def current() -> Context | None:
    """This process's place in the running torch.distributed job (more than one process),
    else ``None``. Every process must call the collective that follows."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return None
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    backend = str(dist.get_backend())
    group = None
    if backend != "gloo":
        key = id(dist.group.WORLD)
        if key not in _GLOO_GROUPS:
            _GLOO_GROUPS[key] = dist.new_group(backend="gloo")
        group = _GLOO_GROUPS[key]
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return Context(dist.get_rank(), dist.get_world_size(), local, backend, group)


def gather_and_run(ctx: Context, payload: Any, run: Callable[[list[Any]], T],
                   everywhere: bool) -> T | None:
    """Every rank's ``payload`` to rank 0, ``run(payloads)`` there (in rank order); its
    return value on every rank when ``everywhere`` (else on rank 0, ``None`` elsewhere). An
    error on rank 0 is raised on every rank that waits for the answer, so none hangs."""
    parts = ctx.gather(payload)
    outcome: tuple[str, Any] | None = None
    failure: BaseException | None = None
    if ctx.rank == 0:
        try:
            outcome = ("ok", run(parts))
        except UserError as exc:
            outcome, failure = ("error", str(exc)), exc
        except Exception as exc:  # noqa: BLE001 - told to the other ranks, then raised here
            outcome, failure = ("crash", f"{type(exc).__name__}: {exc}"), exc
    if everywhere:
        outcome = ctx.broadcast(outcome)
    if failure is not None:
        raise failure
    if outcome is None:
        return None
    kind, value = outcome
    if kind == "error":
        raise UserError(f"rank 0: {value}")
    if kind == "crash":
        raise RuntimeError(f"rank 0 failed while computing the metrics: {value}")
    return value
