"""Runners: where feature extraction happens. The rest of the pipeline does not change.

* :class:`LocalRunner` — this process (decode threads, one device).
* :class:`TorchrunRunner` — every process of a ``torchrun`` job takes an exact, disjoint,
  contiguous shard of the sorted image list (no padding, no duplicates); rank 0 gathers the
  shards and merges them in list order (rows concatenated, float64 statistics merged exactly),
  so every later step sees what one process would have extracted. gloo on CPU, NCCL on GPUs.
* :class:`RayRunner` — the same shards as Ray tasks on a cluster (``ray`` is an optional extra).
  The driver never waits silently: the cluster start and every stretch without progress
  (images counted by the tasks as they go) are bounded by ``$GENMETRICS_RAY_TIMEOUT``, a stall
  is said on stderr, and a task's one-line error ends the run at once
  (:func:`genmetrics.distributed.ray_wait`).

Each shard reads and writes the feature cache through SQLite's WAL locking, which serves many
writers on one machine; put ``--cache-dir`` on a local disk on every node (SQLite's locks are
not reliable on network filesystems, and the cache refuses them in distributed runs).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from genmetrics import distributed
from genmetrics.backbones.registry import Backbone, BackboneOptions, create_backbone
from genmetrics.distributed import shard_bounds
from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache, check_shared_cache, default_cache_path
from genmetrics.features.extract import ExtractedFeatures, FeatureRequest, extract_features
from genmetrics.progress import progress_bar
from genmetrics.sources.items import ImageItem, items_from, printable


@dataclass(frozen=True)
class ExtractionSettings:
    """How a shard is extracted (picklable: it travels to Ray workers)."""

    batch_size: int = 32
    workers: int | None = None
    strict: bool = False
    cache: bool = True
    cache_dir: str | None = None
    progress: bool = False
    backbone_options: BackboneOptions = field(default_factory=BackboneOptions)

    def open_cache(self) -> FeatureCache | None:
        return FeatureCache(default_cache_path(self.cache_dir)) if self.cache else None

    def check_shared_cache(self) -> None:
        """Many processes are about to write the cache: it must be on a local disk."""
        if self.cache:
            check_shared_cache(default_cache_path(self.cache_dir))


class Runner(Protocol):
    """Extracts the requested features of a list of items and returns them, merged, in the
    main process (``None`` elsewhere)."""

    name: str
    is_main: bool

    def extract(
        self,
        side: str,
        items: Sequence[ImageItem],
        source: Any,
        requests: Sequence[FeatureRequest],
        backbones: dict[str, Backbone],
        settings: ExtractionSettings,
    ) -> ExtractedFeatures | None: ...


def _extract_items(
    side: str,
    items: Sequence[ImageItem],
    requests: Sequence[FeatureRequest],
    backbones: dict[str, Backbone],
    settings: ExtractionSettings,
    advance: Callable[[int], None] | None = None,
    label: str | None = None,
) -> ExtractedFeatures:
    """One shard in this process. The cache is opened (and checked) before the progress bar
    appears, so a damaged cache is one error line, not a half-drawn bar."""
    store = settings.open_cache()
    try:
        with progress_bar(len(items), label or f"{side} images", label is not None) as bar:
            feats = extract_features(
                items, backbones, requests, cache=store, batch_size=settings.batch_size,
                workers=settings.workers, strict=settings.strict, progress=advance or bar,
            )
        feats.cache_corrupt_rows = store.corrupt_rows if store is not None else 0
        return feats
    finally:
        if store is not None:
            store.close()


class LocalRunner:
    """Everything in this process."""

    name = "local"
    is_main = True

    def extract(self, side, items, source, requests, backbones, settings):
        label = f"{side} images" if settings.progress else None
        return _extract_items(side, items, requests, backbones, settings, label=label)


def _listing_digest(items: Sequence[ImageItem]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(item.id.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


@dataclass
class _ShardResult:
    """What a shard sends back: its features, or the one-line error that stopped it."""

    features: ExtractedFeatures | None
    error: str | None = None
    exit_code: int = 2
    listing: str = ""


def _run_shard(fn: Callable[[], ExtractedFeatures], listing: str) -> _ShardResult:
    try:
        return _ShardResult(fn(), listing=listing)
    except UserError as exc:
        return _ShardResult(None, str(exc), exc.exit_code, listing)


def _raise_error(r: _ShardResult, where: str) -> None:
    """The one-line error a shard returned, raised here with its exit code."""
    if r.error is not None:
        error = UserError(f"{where}: {r.error}")
        error.exit_code = r.exit_code  # an instance attribute: UserError takes no keywords
        raise error


def _merge_shards(results: Sequence[_ShardResult], listing: str, where: str) -> ExtractedFeatures:
    for i, r in enumerate(results):
        _raise_error(r, f"{where} {i}")
        if r.listing != listing:
            raise UserError(
                f"{where} {i} sees a different list of images than the main process; every "
                "process must read the same files (a shared filesystem with the same paths)"
            )
    return ExtractedFeatures.merge([r.features for r in results])  # type: ignore[misc]


class TorchrunRunner:
    """One shard per ``torchrun`` process; rank 0 gathers and merges."""

    name = "torchrun"

    def __init__(self, context: distributed.Context) -> None:
        self.context = context
        self.is_main = context.rank == 0
        self._extractions = 0

    def extract(self, side, items, source, requests, backbones, settings):
        ctx = self.context
        settings.check_shared_cache()
        lo, hi = shard_bounds(len(items), ctx.rank, ctx.world_size, settings.batch_size)
        listing = _listing_digest(items)
        self._extractions += 1
        count = ctx.counter(f"progress/{self._extractions}/{side}")
        bar = progress_bar(len(items), f"{side} images ({ctx.world_size} processes)",
                           settings.progress and self.is_main)
        with bar as advance:
            shown = 0

            def step(k: int) -> None:  # every rank adds to the job-wide count; rank 0 shows it
                nonlocal shown
                total = count(k) if count is not None else shown + k * ctx.world_size
                if self.is_main and total > shown:
                    advance(min(total, len(items)) - shown)
                    shown = min(total, len(items))

            result = _run_shard(
                lambda: _extract_items(side, items[lo:hi], requests, backbones, settings, step),
                listing,
            )
            gathered = ctx.gather(result)
            step(0)  # the other ranks' last batches
        if not self.is_main:
            return None
        return _merge_shards(gathered, listing, "rank")


@dataclass(frozen=True)
class ShardJob:
    """One Ray task: which images (by source and id), which features, how."""

    side: str
    source: Any
    ids: tuple[str, ...]
    prompts: tuple[str | None, ...]
    """The prompt of each image (attached on the driver; the worker's listing has none)."""
    items: tuple[ImageItem, ...] | None
    requests: tuple[FeatureRequest, ...]
    backbones: tuple[str, ...]
    settings: ExtractionSettings
    counter: Any = None
    """A :class:`~genmetrics.distributed.RayCounter` actor: images done, for the driver."""


def run_shard_job(job: ShardJob) -> _ShardResult:
    """A Ray worker's side: list the source again (the cluster shares its filesystem), take
    the shard's ids, build the backbones from the registry and extract."""
    from genmetrics import catalog

    catalog.load()

    def work() -> ExtractedFeatures:
        if job.items is not None:
            items = list(job.items)
        else:
            by_id = {i.id: i for i in items_from(job.source)}
            missing = [i for i in job.ids if i not in by_id]
            if missing:
                raise UserError(
                    f"a Ray worker cannot see {len(missing)} image(s) of {job.source}, first: "
                    f"{missing[0]}; every node must see the images at the same path"
                )
            items = [replace(by_id[i], prompt=p) for i, p in zip(job.ids, job.prompts, strict=True)]
        opts = job.settings.backbone_options
        if opts.device.startswith("cuda"):
            opts = replace(opts, device="cuda")  # the GPU Ray gave this task
        backbones = {name: create_backbone(name, opts) for name in job.backbones}
        counter = job.counter
        advance = (lambda k: counter.add.remote(k)) if counter is not None else None
        return _extract_items(job.side, items, job.requests, backbones, job.settings, advance)

    return _run_shard(work, "")


class RayRunner:
    """Shards as Ray tasks; the driver merges them in list order. ``address=None`` starts a
    private local cluster (never one that ``ray start`` left on the machine)."""

    name = "ray"
    is_main = True

    def __init__(self, address: str | None = None, shards: int | None = None, gpus_per_task: float = 0) -> None:
        ray = distributed.ray_init(address)
        self._ray = ray
        self.address = address
        self.shards = shards or max(1, int(ray.cluster_resources().get("GPU" if gpus_per_task else "CPU", 1)))
        self.gpus_per_task = gpus_per_task

    def extract(self, side, items, source, requests, backbones, settings):
        ray = self._ray
        settings.check_shared_cache()
        in_memory = not isinstance(source, (str, os.PathLike))
        task = ray.remote(num_gpus=self.gpus_per_task)(run_shard_job)
        counter = distributed.ray_counter(ray)
        refs = []
        for index in range(self.shards):
            lo, hi = shard_bounds(len(items), index, self.shards, settings.batch_size)
            if lo == hi:
                continue
            part = items[lo:hi]
            ids = tuple(i.id for i in part)
            job = ShardJob(side, None if in_memory else os.fspath(source), ids,
                           tuple(i.prompt for i in part), tuple(part) if in_memory else None, tuple(requests),
                           tuple(dict.fromkeys(r.backbone for r in requests)),
                           replace(settings, progress=False), counter)
            refs.append(task.remote(job))
        with progress_bar(len(items), f"{side} images ({len(refs)} Ray tasks)", settings.progress) as advance:
            results = distributed.ray_wait(
                ray, refs, what="Ray tasks", items=len(items), counter=counter,
                on_result=_shard_done, advance=advance,
            )
        return _merge_shards(results, "", "Ray task")


def _shard_done(index: int, result: _ShardResult) -> int:
    """A Ray task's result as it arrives: its error ends the run at once (the other tasks
    are cancelled); else the images it covers."""
    _raise_error(result, f"Ray task {index}")
    return len(result.features) + len(result.features.skipped) if result.features is not None else 0


def make_runner(ray: str | bool | None = None) -> Runner:
    """``torchrun`` when this process is one rank of a torchrun job; Ray when asked for
    (``"local"`` or ``True`` starts a cluster on this machine, ``"auto"`` joins the running
    one, or a ``ray://host:port`` address); else this process."""
    ctx = distributed.context()
    if ctx is not None and ray not in (None, False):
        raise UserError("use either torchrun or --ray, not both")
    if ctx is not None:
        return TorchrunRunner(ctx)
    if ray is not None and ray is not False:
        return RayRunner(address=None if ray in (True, "", "local") else str(ray))
    return LocalRunner()


def extract_set(runner: Runner, side: str, items, source, requests, instances, settings) -> ExtractedFeatures | None:
    """One image set through ``runner``: listing problems reported (or fatal with
    ``strict``), features merged on the main process (``None`` elsewhere)."""
    problems = list(getattr(items, "problems", ()))
    if problems and settings.strict:
        where, reason = problems[0]
        raise UserError(f"{where}: {reason} (remove it, or run without --strict to skip it)")
    if runner.is_main:
        for where, reason in problems:
            print(f"warning: skipped {where}: {reason}", file=sys.stderr)
    used = {name: instances[name] for name in dict.fromkeys(r.backbone for r in requests)}
    feats = runner.extract(side, items, source, requests, used, settings)
    if feats is None:
        return None
    feats.skipped[:0] = problems
    if not feats.ids:
        first = f"; first: {feats.skipped[0][0]}: {feats.skipped[0][1]}" if feats.skipped else ""
        raise UserError(f"{(printable(str(source)) if isinstance(source, (str, os.PathLike)) else 'in-memory images')}: none of the {len(items)} images could be read{first}")
    return feats
