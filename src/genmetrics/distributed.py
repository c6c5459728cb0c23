"""The torch.distributed side of a ``torchrun`` job: which process this is, and collectives.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; a
process started that way (with more than one process in the job) gets a :class:`Context`.
NCCL serves GPU jobs and gloo CPU jobs; Python objects (features, rows, errors) always travel
over a gloo group, so they never need a GPU copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Context:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    _objects: Any = field(default=None, repr=False)

    def device(self, requested: str) -> str:
        """The device of this rank: each process of a GPU job takes its own GPU."""
        if requested in ("cuda", "auto") and self.backend == "nccl":
            return f"cuda:{self.local_rank}"
        return requested

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` on rank 0 (in rank order); ``[]`` on the other ranks."""
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0, group=self._objects)
        return out or []

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self._objects)
        return box[0]

    def counter(self, name: str) -> Callable[[int], int] | None:
        """``add(n)`` → the job-wide total of ``name`` after adding ``n`` (the rendezvous
        store's atomic add), or ``None`` where the store cannot be reached."""
        import torch.distributed as dist

        try:
            store = dist.distributed_c10d._get_default_store()
        except Exception:  # noqa: BLE001 - progress is a nicety, never a failure
            return None
        key = f"genmetrics/{name}"
        return lambda n: int(store.add(key, int(n)))

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier(group=self._objects)


def shard_bounds(n: int, index: int, count: int, granularity: int = 1) -> tuple[int, int]:
    """``[lo, hi)`` of shard ``index`` of ``count`` over ``n`` items: contiguous, disjoint and
    covering. Shards start at multiples of ``granularity`` (the batch size), so each shard
    runs the very batches one process would (a network's float32 output can depend on what
    else is in its batch); their sizes differ by at most one batch."""
    blocks = -(-n // granularity)
    base, extra = divmod(blocks, count)
    first_long = count - extra  # the last shards take one more block: the short last block
    lo = index * base + max(0, index - first_long)  # lands in a long shard
    hi = lo + base + (1 if index >= first_long else 0)
    return min(n, lo * granularity), min(n, hi * granularity)


_CONTEXT: Context | None = None


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ


def context() -> Context | None:
    """This process's :class:`Context` when it is one of several ``torchrun`` processes
    (the process group is joined on first use), else ``None``."""
    global _CONTEXT
    if _CONTEXT is not None or not launched_by_torchrun():
        return _CONTEXT
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    objects = dist.new_group(backend="gloo") if backend != "gloo" else None
    _CONTEXT = Context(dist.get_rank(), dist.get_world_size(), local_rank, backend, objects)
    return _CONTEXT


def ray_init(address: str | bool | None) -> Any:
    """The ``ray`` module, connected: ``"local"``/``True`` starts a cluster on this machine,
    ``"auto"`` joins the running one, else ``address`` (``ray://host:port``)."""
    from genmetrics.optional import require

    require("ray", "--ray")
    import ray

    if not ray.is_initialized():
        local = address in (True, "", "local", None)
        kwargs: dict[str, Any] = {"address": None if local else str(address), "log_to_driver": False}
        if local:
            kwargs["include_dashboard"] = False
        ray.init(**kwargs)
    return ray


def finish() -> None:
    """Leave the process group (end of a command)."""
    global _CONTEXT
    if _CONTEXT is None:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = None
