"""The torch.distributed side of a ``torchrun`` job: which process this is, and collectives.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; a
process started that way (with more than one process in the job) gets a :class:`Context`.
NCCL serves GPU jobs and gloo CPU jobs; Python objects (features, rows, errors) always travel
over a gloo group, so they never need a GPU copy.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from genmetrics.errors import UserError


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
        with _collective():
            dist.gather_object(obj, out, dst=0, group=self._objects)
        return out or []

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        box = [obj]
        with _collective():
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

        with _collective():
            dist.barrier(group=self._objects)


_INTERRUPTED_COLLECTIVES = 0
"""Collectives left by an exception (e.g. Ctrl-C): the process group is then not destroyed at
exit (its threads may wait on peers that are gone; torchrun ends the job anyway)."""


@contextlib.contextmanager
def _collective() -> Iterator[None]:
    global _INTERRUPTED_COLLECTIVES
    _INTERRUPTED_COLLECTIVES += 1
    yield
    _INTERRUPTED_COLLECTIVES -= 1  # not reached when the collective raised


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
        # Leave the group before the interpreter tears down. Left alive, the group's worker
        # threads may drop the last reference to a finished collective's tensors while the
        # interpreter finalises; taking the GIL then ends the thread inside C++ and aborts
        # the process ("terminate called without an active exception", exit -6) after all
        # its work: a rank that leaves right after its last gather did so now and then.
        atexit.register(finish)
    objects = dist.new_group(backend="gloo") if backend != "gloo" else None
    _CONTEXT = Context(dist.get_rank(), dist.get_world_size(), local_rank, backend, objects)
    return _CONTEXT


RAY_TIMEOUT_ENV = "GENMETRICS_RAY_TIMEOUT"
DEFAULT_RAY_TIMEOUT = 1800.0
"""Seconds a Ray driver waits for any sign of progress of its tasks (a finished chunk of
images, or task) before it ends the run with one line: generous, as a task's first chunk
includes loading its backbone, and a large one on CPU takes minutes per chunk."""
RAY_START_TIMEOUT = 300.0
"""At most this long (or the bound above, if shorter) for the cluster to start or answer."""


def ray_timeout() -> float | None:
    """The bound from ``$GENMETRICS_RAY_TIMEOUT`` (seconds; ``0``: wait without bound)."""
    raw = os.environ.get(RAY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_RAY_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{RAY_TIMEOUT_ENV}={raw!r} must be a number of seconds (0: no bound)")
    return value or None


def _ray_hint() -> str:
    return (f"check the cluster with 'ray status', or set {RAY_TIMEOUT_ENV}=SECONDS to wait "
            "longer (0: no bound)")


def ray_init(address: str | bool | None, timeout: float | None | Literal["env"] = "env") -> Any:
    """The ``ray`` module, connected: ``"local"``/``True``/``None`` starts a private cluster on
    this machine (never an existing one: ``ray.init()`` without an address would join any
    cluster ``ray start`` left on the machine, whose CPUs may be busy with other jobs),
    ``"auto"`` joins the running one, else ``address`` (``ray://host:port``).

    The start is bounded by ``timeout`` (default: :func:`ray_timeout`, at most
    :data:`RAY_START_TIMEOUT`): past it, or when Ray fails to start, one :class:`UserError`
    line. ``ray.init`` runs in a thread that then stays
    parked: the cluster's processes die with the thread that started them."""
    from genmetrics.optional import require

    require("ray", "--ray")
    import ray

    if ray.is_initialized():
        return ray
    bound = ray_timeout() if timeout == "env" else timeout
    if timeout == "env" and bound is not None:
        bound = min(bound, RAY_START_TIMEOUT)
    local = address in (True, "", "local", None)
    kwargs: dict[str, Any] = {"address": "local" if local else str(address), "log_to_driver": False}
    if local:
        kwargs["include_dashboard"] = False
    where = "a local Ray cluster" if local else f"the Ray cluster at {address}"
    outcome: list[BaseException | None] = []
    ready = threading.Event()

    def start() -> None:
        try:
            ray.init(**kwargs)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported on the main thread
            outcome.append(exc)
        ready.set()
        threading.Event().wait()  # parked for the life of the process (see above)

    threading.Thread(target=start, name="genmetrics-ray-init", daemon=True).start()
    started = time.monotonic()
    while not ready.wait(timeout=_report_every(bound)):
        waited = time.monotonic() - started
        if bound is not None and waited >= bound:
            raise UserError(f"{where} did not start within {bound:g} s; {_ray_hint()}")
        print(f"waiting for Ray: starting {where} ({waited:.0f} s)", file=sys.stderr, flush=True)
    if outcome[0] is not None:
        exc = outcome[0]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot start {where} ({first})") from None
    return ray


def _report_every(bound: float | None) -> float:
    """Seconds without progress between two 'waiting for Ray' lines."""
    return 30.0 if bound is None else min(30.0, max(0.5, bound / 4))


class RayCounter:
    """A job-wide count (e.g. images done), kept by a Ray actor that needs no CPU: tasks add
    to it as they go, the driver reads it to show progress and to tell a stall."""

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int) -> int:
        self.n += int(k)
        return self.n

    def total(self) -> int:
        return self.n


def ray_counter(ray: Any) -> Any:
    """A new :class:`RayCounter` actor (its handle travels to tasks)."""
    return ray.remote(num_cpus=0)(RayCounter).remote()


def _free_cpus(ray: Any) -> str:
    try:
        free = ray.available_resources().get("CPU", 0)
        total = ray.cluster_resources().get("CPU", 0)
    except Exception:  # noqa: BLE001 - a description only
        return ""
    return f"; cluster: {free:g} of {total:g} CPUs free"


def ray_wait(
    ray: Any,
    refs: Sequence[Any],
    *,
    what: str,
    items: int | None = None,
    counter: Any = None,
    on_result: Callable[[int, Any], int] | None = None,
    advance: Callable[[int], None] | None = None,
    timeout: float | None | Literal["env"] = "env",
) -> list[Any]:
    """The results of ``refs`` (in their order), never waiting silently or without bound.

    ``on_result(i, value)`` sees each result as it arrives (it may raise, e.g. the
    :class:`UserError` a task returned: the run ends at once) and returns how many of the
    ``items`` it covers; ``counter`` (:func:`ray_counter`) counts items as the tasks go.
    ``advance`` gets the growth of that count. Every ``min(30 s, bound / 4)`` without progress
    a line on stderr says what is awaited; past ``timeout`` (default: :func:`ray_timeout`)
    without progress, the tasks are cancelled and one :class:`UserError` line ends the run.
    A task that raised a :class:`UserError` ends the run with that line; a worker that died
    with one line naming the cause."""
    import ray.exceptions as rex

    bound = ray_timeout() if timeout == "env" else timeout
    every = _report_every(bound)
    results: list[Any] = [None] * len(refs)
    index = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    finished_items = counted = shown = 0
    probe = counter.total.remote() if counter is not None else None
    last_progress = last_report = time.monotonic()

    def status() -> str:
        of = f" of {items}" if items is not None else ""
        return (f"{len(refs) - len(pending)} of {len(refs)} {what} done, {shown}{of} images"
                f"{_free_cpus(ray)}")

    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=min(1.0, every))
            for ref in ready:
                i = index[ref]
                try:
                    results[i] = ray.get(ref)
                except rex.RayTaskError as exc:
                    if isinstance(exc.cause, UserError):
                        raise exc.cause from None
                    raise
                except rex.RayError as exc:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise UserError(f"a Ray task of this run failed ({first}); {_ray_hint()}") from None
                finished_items += on_result(i, results[i]) if on_result is not None else 0
                last_progress = time.monotonic()
            if probe is not None and ray.wait([probe], timeout=0)[0]:
                try:
                    counted = int(ray.get(probe))
                except rex.RayError:
                    counter = None  # the counter is a nicety: without it, tasks still count
                probe = counter.total.remote() if counter is not None else None
            now_count = max(counted, finished_items)
            if now_count > shown:
                if advance is not None:
                    advance(now_count - shown)
                shown = now_count
                last_progress = time.monotonic()
            now = time.monotonic()
            if not pending:
                break
            if bound is not None and now - last_progress >= bound:
                raise UserError(
                    f"Ray made no progress for {bound:g} s ({status()}); {_ray_hint()}"
                )
            if now - max(last_progress, last_report) >= every:
                last_report = now
                print(f"waiting for Ray: {status()}; {now - last_progress:.0f} s without "
                      "progress", file=sys.stderr, flush=True)
    finally:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort: the run is ending anyway
                pass
    return results


def finish() -> None:
    """Leave the process group (end of a command; registered with :mod:`atexit` when this
    module creates the group). Skipped after an interrupted collective (see above)."""
    global _CONTEXT
    if _CONTEXT is None:
        return
    import torch.distributed as dist

    if dist.is_initialized() and _INTERRUPTED_COLLECTIVES == 0:
        dist.destroy_process_group()
    _CONTEXT = None
