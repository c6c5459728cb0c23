"""Benchmark image generation: every prompt of a suite through a diffusers pipeline.

Writes lossless PNGs ``OUT/STYLE/NNNNN.png`` (``NNNNN_k{j}.png`` when ``images_per_prompt`` > 1,
see :mod:`genmetrics.generation.layout`), the per-image manifest ``OUT/generation.jsonl`` and
the run settings ``OUT/generation.json``. Every image has its own seed
(:mod:`genmetrics.generation.seeds`) and its own ``torch.Generator``, so batch size and prompt
subsets do not change the initial noise of an image (batched network passes may still differ
from unbatched ones in the last bit, which can move a pixel by one level).

Runs resume. An image counts as done only when ``generation.jsonl`` lists it with the sha256
of its PNG and the file still has that hash (every listed image of the selection is re-hashed
on resume: about a second per GB of PNGs); a listed image that is missing or changed is made
again. PNGs are written to a temporary file and renamed, so a killed run loses at most the
batch in flight. Resuming with settings that change the pixels is refused, naming each
setting and both values: the pipeline's fingerprint (:mod:`genmetrics.generation.pipeline`),
the hook's source (:func:`genmetrics.generation.hooks.hook_fingerprint`), dtype, scheduler,
steps, guidance, size, suite, seeds and seed policy. An output folder holding images that this
tool did not make (not listed in its ``generation.jsonl``) is refused: they are never skipped,
overwritten or recorded. ``restart=True`` (``--restart``) deletes the images listed in the
folder's manifest and the run files, then starts again. Do not run two generations into the
same folder at the same time.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genmetrics import distributed
from genmetrics.atomic import atomic_write_bytes, sweep_leftovers
from genmetrics.distributed import shard_bounds
from genmetrics.errors import GenMetricsError, UserError
from genmetrics.generation.hooks import Hook, apply_hook, hook_fingerprint
from genmetrics.generation.layout import (
    LAYOUT,
    MANIFEST_NAME,
    SETTINGS_NAME,
    image_id,
    image_relpath,
)
from genmetrics.generation.manifest import (
    FIX,
    append_records,
    check_resumable,
    read_records,
    read_settings,
    write_records,
    write_settings,
)
from genmetrics.generation.pipeline import (
    dtype_name,
    load_pipeline,
    memory_fingerprint,
    pipeline_device,
    pipeline_dtype,
    pipeline_source,
    resolve_device,
    resolve_dtype,
)
from genmetrics.generation.seeds import SEED_POLICY, image_seed
from genmetrics.sources.items import is_image_name
from genmetrics.suites import PromptItem, PromptSuite, load_suite

_UNPINNED = "nothing pins these weights: a resume cannot tell whether they changed"


@dataclass(frozen=True)
class GenerationResult:
    """Summary of a run: counts of planned, newly generated and already present images."""

    out_dir: Path
    planned: int
    generated: int
    skipped: int
    seconds: float
    manifest_path: Path
    settings_path: Path
    replaced: int = 0
    """Listed images whose file had changed, made again."""
    main: bool = True
    """False on the ranks of a torchrun job other than 0 (which reports for all)."""


@dataclass(frozen=True)
class _Job:
    item: PromptItem
    sample: int
    seed: int
    image_id: str
    relpath: str

    def record(self) -> dict[str, Any]:
        return {
            "id": self.image_id,
            "image": self.relpath,
            "prompt_id": self.item.id,
            "style": self.item.style,
            "index": self.item.index,
            "prompt": self.item.prompt,
            "sample": self.sample,
            "seed": self.seed,
        }


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "diffusers", "transformers", "genmetrics"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _call_parameters(pipe: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    try:
        params = dict(inspect.signature(pipe.__call__).parameters)
    except (TypeError, ValueError):
        return {}, True
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return params, takes_kwargs


def _call_kwargs(pipe: Any, **wanted: Any) -> dict[str, Any]:
    """Pipeline arguments that were given, checked against the pipeline's signature."""
    params, takes_kwargs = _call_parameters(pipe)
    kwargs = {k: v for k, v in wanted.items() if v is not None}
    for key in kwargs:
        if params and key not in params and not takes_kwargs:
            raise UserError(
                f"pipeline {type(pipe).__name__} does not take {key!r}; drop that option"
            )
    return kwargs


def _pipeline_defaults(pipe: Any) -> dict[str, Any]:
    params, _ = _call_parameters(pipe)
    out = {}
    for key in ("num_inference_steps", "guidance_scale", "height", "width"):
        param = params.get(key)
        if param is not None and param.default is not inspect.Parameter.empty:
            default = param.default
            out[key] = default if isinstance(default, int | float | str | type(None)) else None
    return out


def _plan(suite: PromptSuite, base_seed: int, images_per_prompt: int) -> list[_Job]:
    return [
        _Job(
            item,
            k,
            image_seed(base_seed, item.id, k),
            image_id(item, k, images_per_prompt),
            image_relpath(item, k, images_per_prompt),
        )
        for item in suite.items
        for k in range(images_per_prompt)
    ]


def _batches(jobs: Sequence[_Job], size: int) -> Iterator[list[_Job]]:
    for start in range(0, len(jobs), size):
        yield list(jobs[start : start + size])


def _to_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode not in ("RGB", "L", "RGBA") else image
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else image
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)


def _encode_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _is_done(out_dir: Path, job: _Job, record: dict[str, Any] | None) -> bool:
    """True when ``record`` lists this job's image and the file still has the listed hash."""
    if record is None or any(record.get(k) != v for k, v in job.record().items()):
        return False
    digest, size = record.get("sha256"), record.get("bytes")
    path = out_dir / job.relpath
    try:
        actual = path.stat().st_size
    except OSError:
        return False
    return isinstance(digest, str) and actual == size and _sha256(path) == digest


def _listed_file(out_dir: Path, record: dict[str, Any]) -> Path | None:
    """The image file a record lists, when it exists inside ``out_dir``."""
    image = record.get("image")
    if not isinstance(image, str):
        return None
    path = out_dir / image
    inside = path.resolve().is_relative_to(out_dir.resolve())
    return path if inside and path.is_file() else None


def _foreign_images(out_dir: Path, records: dict[str, dict[str, Any]]) -> list[str]:
    """Image files under ``out_dir`` that the manifest does not list (relative paths)."""
    if not out_dir.is_dir():
        return []
    listed = {r.get("image") for r in records.values()}
    found = []
    for dirpath, _dirs, filenames in os.walk(out_dir):
        for name in filenames:
            rel = Path(dirpath, name).relative_to(out_dir).as_posix()
            if is_image_name(name) and rel not in listed:
                found.append(rel)
    return sorted(found)


def _refuse_foreign(out_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    """Refuse a folder holding images that this tool did not make."""
    foreign = _foreign_images(out_dir, records)
    if foreign:
        why = f"not listed in its {MANIFEST_NAME}" if records else f"it has no {MANIFEST_NAME}"
        raise UserError(
            f"output folder {out_dir} holds {len(foreign)} image(s) that genmetrics generate did "
            f"not make ({why}), e.g. {foreign[0]}; give a new or empty --out folder (such images "
            "are never skipped, overwritten or recorded)"
        )


def _check_settings(
    out_dir: Path,
    records: dict[str, dict[str, Any]],
    old_settings: dict[str, Any] | None,
    settings: dict[str, Any],
) -> None:
    """Refuse to add images to a folder whose images were made with other settings."""
    if not any(_listed_file(out_dir, r) for r in records.values()):
        return  # no image there yet: nothing to mix with
    if old_settings is None:
        raise UserError(
            f"{out_dir} has {MANIFEST_NAME} but no {SETTINGS_NAME}, so the settings of its images "
            f"are unknown; {FIX}"
        )
    check_resumable(out_dir, old_settings, settings)


def _discard(out_dir: Path, records: dict[str, dict[str, Any]]) -> int:
    """Delete the images the manifest lists and the run files (``restart``); returns a count."""
    deleted = 0
    for record in records.values():
        path = _listed_file(out_dir, record)
        if path is not None:
            path.unlink()
            deleted += 1
    for name in (MANIFEST_NAME, SETTINGS_NAME):
        (out_dir / name).unlink(missing_ok=True)
    return deleted


def _rank_journal(out_dir: Path, rank: int) -> Path:
    """Where one torchrun rank appends its records (one writer per file)."""
    return out_dir / f".{MANIFEST_NAME}.rank{rank}"


def _merge_rank_journals(manifest: Path, out_dir: Path, full: PromptSuite) -> None:
    """Fold the ranks' journals into the manifest (suite order), then delete them."""
    journals = sorted(out_dir.glob(f".{MANIFEST_NAME}.rank*"))
    if not journals:
        return
    records = read_records(manifest)
    for journal in journals:
        records.update(read_records(journal))
    write_records(manifest, records.values())
    _compact_manifest(manifest, out_dir, full)
    for journal in journals:
        journal.unlink()


def _compact_manifest(path: Path, out_dir: Path, full: PromptSuite) -> int:
    """Rewrite the manifest: the records whose image file exists, in suite order.

    Records are only ever written when an image is made: files are never added to it.
    """
    records = [r for r in read_records(path).values() if _listed_file(out_dir, r) is not None]
    position = {item.id: i for i, item in enumerate(full.items)}

    def order(record: dict[str, Any]) -> tuple[int, int, str]:
        sample = record.get("sample")
        return (
            position.get(record.get("prompt_id"), len(position)),
            sample if isinstance(sample, int) else 0,
            str(record.get("id")),
        )

    write_records(path, sorted(records, key=order))
    return len(records)


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]generate[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _run_batches(
    pipe: Any,
    jobs: Sequence[_Job],
    out: Path,
    journal: Path,
    batch_size: int,
    generator_device: str,
    call_kwargs: dict[str, Any],
    advance: Any = None,
) -> int:
    """Generate ``jobs`` in batches: one seeded generator per image, PNGs written atomically,
    records appended to ``journal`` first. Returns how many images were made."""
    generated = 0
    for batch in _batches(jobs, batch_size):
        generators = [
            torch.Generator(device=generator_device).manual_seed(job.seed) for job in batch
        ]
        output = pipe(
            prompt=[job.item.prompt for job in batch],
            generator=generators,
            num_images_per_prompt=1,
            output_type="pil",
            **call_kwargs,
        )
        images = getattr(output, "images", None)
        if images is None:
            images = output[0]
        if len(images) != len(batch):
            raise GenMetricsError(f"pipeline returned {len(images)} images for {len(batch)} prompts")
        flags = getattr(output, "nsfw_content_detected", None)
        pngs = [_encode_png(image) for image in images]
        records = []
        for i, (job, data) in enumerate(zip(batch, pngs, strict=True)):
            digest = hashlib.sha256(data).hexdigest()
            record = {**job.record(), "sha256": digest, "bytes": len(data)}
            if flags is not None and i < len(flags) and flags[i] is not None:
                record["nsfw"] = bool(flags[i])
            records.append(record)
        # records first: a run killed in between leaves a listed image that is missing
        # (made again), never an image that is not listed
        append_records(journal, records)
        for job, data in zip(batch, pngs, strict=True):
            atomic_write_bytes(out / job.relpath, data)
        generated += len(batch)
        if advance is not None:
            advance(len(batch))
    return generated


@dataclass(frozen=True)
class _RayShardSpec:
    """What a Ray task needs to rebuild the pipeline and write into the output folder."""

    pipeline: str
    dtype: Any
    device: Any
    offline: bool | None
    revision: str | None
    variant: str | None
    hook: Any
    out: str
    batch_size: int
    steps: int | None
    guidance: float | None
    height: int | None
    width: int | None


def _ray_generate_shard(spec: _RayShardSpec, jobs: list[_Job], index: int, counter: Any = None) -> int:
    """A Ray task: load the pipeline on the worker's device, generate ``jobs`` into the
    shared output folder, journal ``index``; each finished batch is added to ``counter``
    (the driver's progress and stall bound)."""
    dev = resolve_device("cuda" if spec.device in (None, "auto") and torch.cuda.is_available()
                         else (spec.device or "cpu"))
    pipe = load_pipeline(spec.pipeline, spec.dtype, dev, spec.offline, revision=spec.revision,
                         variant=spec.variant)
    pipe = apply_hook(pipe, spec.hook)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    call_kwargs = _call_kwargs(pipe, num_inference_steps=spec.steps, guidance_scale=spec.guidance,
                               height=spec.height, width=spec.width)
    out = Path(spec.out)
    advance = (lambda k: counter.add.remote(k)) if counter is not None else None
    return _run_batches(pipe, jobs, out, _rank_journal(out, index), spec.batch_size,
                        dev.type if dev.type != "mps" else "cpu", call_kwargs, advance)


def _generate_on_ray(address: Any, spec: _RayShardSpec, pending: list[_Job], progress: bool,
                     total: int, done: int) -> int:
    """Shards of ``pending`` (whole batches) as Ray tasks, one per GPU (or CPU) of the cluster."""
    ray = distributed.ray_init(address)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    shards = max(1, gpus or int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_gpus=1 if gpus else 0)(_ray_generate_shard)
    counter = distributed.ray_counter(ray)
    refs = []
    for index in range(shards):
        lo, hi = shard_bounds(len(pending), index, shards, spec.batch_size)
        if hi > lo:
            refs.append(task.remote(spec, pending[lo:hi], index, counter))
    with _progress(progress) as bar:
        bar_task = bar.add_task("generate", total=total, completed=done)
        # bounded and never silent: a stalled cluster or a failed task ends with one line
        counts = distributed.ray_wait(
            ray, refs, what="generation shards", items=len(pending), counter=counter,
            on_result=lambda i, n: int(n), advance=lambda k: bar.advance(bar_task, k),
        )
    return sum(int(n) for n in counts)


def _load_or_move(pipeline: Any, dtype: Any, dev: torch.device, offline: bool | None,
                  revision: str | None, variant: str | None) -> Any:
    """A pipeline named by id or folder is loaded; a loaded one is moved (and cast)."""
    if isinstance(pipeline, str | os.PathLike):
        return load_pipeline(pipeline, dtype, dev, offline, revision=revision, variant=variant)
    pipe = pipeline.to(dev)
    if dtype is not None and dtype != "auto":
        pipe = pipe.to(dtype=resolve_dtype(dtype, dev))
    return pipe


def _settings_record(pipe: Any, full: PromptSuite, dev: torch.device, generator_device: str,
                     hook_info: Any, *, seed: int, steps: int | None, guidance: float | None,
                     height: int | None, width: int | None, images_per_prompt: int) -> dict[str, Any]:
    """Everything that decides the images (checked when a run resumes into the folder)."""
    source = pipeline_source(pipe)
    if source.fingerprint is None:
        source = replace(source, fingerprint=memory_fingerprint(pipe) or f"unpinned:{source.name}")
    pinned = not str(source.fingerprint).startswith("unpinned:")
    scheduler = getattr(pipe, "scheduler", None)
    return {
        "tool": "genmetrics generate",
        "pipeline": {
            "id": source.path or source.name,
            **source.to_dict(),
            "pinned": pinned,
            "note": None if pinned else _UNPINNED,
            "class": type(pipe).__name__,
            "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        },
        "suite": {
            "name": full.name,
            "source": full.source,
            "source_sha256": full.source_sha256,
            "n_prompts": len(full),
        },
        "sampling": {
            "steps": steps,
            "guidance": guidance,
            "height": height,
            "width": width,
            "images_per_prompt": images_per_prompt,
            "pipeline_defaults": _pipeline_defaults(pipe),
        },
        "dtype": dtype_name(pipeline_dtype(pipe)),
        "device": str(pipeline_device(pipe) or dev),
        "generator_device": generator_device,
        "seed": {"base": seed, "policy": SEED_POLICY},
        "hook": hook_info,
        "layout": LAYOUT,
        "image_format": "PNG (lossless, 8-bit RGB)",
        "versions": _versions(),
    }


def _check_arguments(out: Path, images_per_prompt: int, batch_size: int, seed: int,
                     steps: int | None) -> None:
    for label, value, low in (
        ("images per prompt", images_per_prompt, 1),
        ("batch size", batch_size, 1),
        ("seed", seed, 0),
    ):
        if not isinstance(value, int) or value < low:
            raise UserError(f"{label} must be an integer >= {low}, got {value!r}")
    if steps is not None and steps < 1:
        raise UserError(f"steps must be >= 1, got {steps}")
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a folder; give a folder path")


def _check_scale_out(ray: Any, ctx: Any, pipeline: Any) -> None:
    if ray is not None and ctx is not None:
        raise UserError("use either torchrun or --ray, not both")
    if ray is not None and not isinstance(pipeline, str | os.PathLike):
        raise UserError("--ray loads the pipeline on each worker: give it as a model id or folder")


def generate_images(
    pipeline: Any,
    suite: str | os.PathLike | PromptSuite,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    images_per_prompt: int = 1,
    steps: int | None = None,
    guidance: float | None = None,
    height: int | None = None,
    width: int | None = None,
    batch_size: int = 1,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype | None = None,
    styles: Sequence[str] | None = None,
    limit_per_style: int | None = None,
    hook: str | Hook | None = None,
    progress: bool = True,
    offline: bool | None = None,
    revision: str | None = None,
    variant: str | None = None,
    restart: bool = False,
    ray: str | bool | None = None,
) -> GenerationResult:
    """Generate the images of ``suite`` with ``pipeline`` into ``out_dir``.

    ``pipeline`` is a loaded diffusers pipeline or a model id / folder (loaded with
    :func:`load_pipeline`, ``dtype`` "auto"/None meaning fp16 on cuda and fp32 otherwise).
    ``steps``, ``guidance``, ``height`` and ``width`` are passed as ``num_inference_steps``,
    ``guidance_scale``, ``height``, ``width`` when given (else the pipeline's defaults).
    ``hook`` (callable, ``module:function`` or ``file.py:function``) gets the pipeline and
    returns the one to use; it runs only when there is something to generate.

    A pipeline loaded by :func:`load_pipeline` (or named by a path or id) is identified by the
    fingerprint of its files or Hub commit; changes made to it in memory after loading are not
    seen (make them in a hook, whose source is fingerprinted). Another pipeline object is
    identified by a hash of its weights in memory. ``restart`` deletes the images listed in
    ``out_dir``'s manifest and its run files before generating; other files are never touched.

    Under ``torchrun`` the pending images are sharded over the processes (each takes its own
    GPU); with ``ray`` (``"local"``, ``"auto"`` or an address) they run as Ray tasks, one per
    GPU of the cluster. Either way each image is written atomically, each worker appends to
    its own journal, and the journals are folded into ``generation.jsonl`` in suite order:
    the folder is the one a single process makes with the same seeds, and a re-run after a
    worker died makes only what is missing.
    """
    out = Path(out_dir)
    _check_arguments(out, images_per_prompt, batch_size, seed, steps)
    full = load_suite(suite)
    selected = full.subset(styles, limit_per_style)
    ctx = distributed.context()
    _check_scale_out(ray, ctx, pipeline)
    main = ctx is None or ctx.rank == 0
    dev = resolve_device(ctx.device(device or "auto") if ctx is not None else device)
    settings_path = out / SETTINGS_NAME
    manifest_path = out / MANIFEST_NAME
    if main and out.is_dir():  # journals of workers killed in an earlier run join the manifest
        _merge_rank_journals(manifest_path, out, full)
    if ctx is not None:
        ctx.barrier()
    old_records = read_records(manifest_path)
    _refuse_foreign(out, old_records)
    hook_info = hook_fingerprint(hook)

    pipe = _load_or_move(pipeline, dtype, dev, offline, revision, variant)
    generator_device = dev.type if dev.type != "mps" else "cpu"
    call_kwargs = _call_kwargs(
        pipe, num_inference_steps=steps, guidance_scale=guidance, height=height, width=width
    )
    started = time.perf_counter()
    jobs = _plan(selected, seed, images_per_prompt)
    settings = _settings_record(
        pipe, full, dev, generator_device, hook_info, seed=seed, steps=steps, guidance=guidance,
        height=height, width=width, images_per_prompt=images_per_prompt,
    )
    if restart:
        if ctx is not None:
            ctx.barrier()  # every rank has read the old manifest before rank 0 deletes
        if main:
            _discard(out, old_records)
        old_records = {}
    else:
        _check_settings(out, old_records, read_settings(settings_path), settings)

    if main:
        out.mkdir(parents=True, exist_ok=True)
        for folder in {out, *((out / job.relpath).parent for job in jobs)}:
            sweep_leftovers(folder)  # temporary files of a killed earlier run
    pending = [job for job in jobs if not _is_done(out, job, old_records.get(job.image_id))]
    if ctx is not None:  # an exact, disjoint shard of what is left, in whole batches
        ctx.barrier()
        lo, hi = shard_bounds(len(pending), ctx.rank, ctx.world_size, batch_size)
        mine = pending[lo:hi]
        journal = _rank_journal(out, ctx.rank)
    else:
        mine, journal = pending, manifest_path
    replaced = sum((out / job.relpath).exists() for job in pending)
    skipped = len(jobs) - len(pending)
    run_info: dict[str, Any] = {
        "started": _now(),
        "finished": None,
        "styles": list(selected.styles),
        "limit_per_style": limit_per_style,
        "batch_size": batch_size,
        "planned": len(jobs),
        "skipped_existing": skipped,
        "replaced_changed": replaced,
        "generated": 0,
    }
    if main:
        write_settings(settings_path, {**settings, "run": run_info})
        _compact_manifest(manifest_path, out, full)

    generated = 0
    try:
        if ray is not None and pending:
            generated = _generate_on_ray(
                ray, _RayShardSpec(
                    pipeline=os.fspath(pipeline), dtype=dtype, device=device, offline=offline,
                    revision=revision, variant=variant, hook=hook, out=os.fspath(out),
                    batch_size=batch_size, steps=steps, guidance=guidance, height=height,
                    width=width,
                ), pending, progress, len(jobs), skipped,
            )
        elif mine:
            pipe = apply_hook(pipe, hook)
            if hasattr(pipe, "set_progress_bar_config"):
                pipe.set_progress_bar_config(disable=True)
            with _progress(progress and main) as bar:
                task = bar.add_task("generate", total=len(jobs), completed=skipped)
                scale = ctx.world_size if ctx else 1
                generated = _run_batches(
                    pipe, mine, out, journal, batch_size, generator_device, call_kwargs,
                    lambda n: bar.advance(task, n * scale),
                )
    finally:
        if ctx is not None:  # rank 0 folds every rank's journal into the manifest
            counts = ctx.gather(generated)
            generated = sum(counts)
        if main:
            _merge_rank_journals(manifest_path, out, full)
            present = _compact_manifest(manifest_path, out, full)
            seconds = time.perf_counter() - started
            run_info.update(
                finished=_now(), generated=generated, seconds=round(seconds, 3), images_present=present
            )
            write_settings(settings_path, {**settings, "run": run_info})
    return GenerationResult(
        out, len(jobs), generated, skipped, time.perf_counter() - started, manifest_path,
        settings_path, replaced, main=main,
    )
