"""``genmetrics.evaluate``: plan → runner extracts features → metrics → result.

Every requested metric comes from one pass over each image set; the runner decides where the
pass happens (this process, torchrun ranks, Ray tasks) and hands back the merged features, so
everything after extraction is the same code whatever ran it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics import distributed
from genmetrics.backbones.registry import Backbone, BackboneOptions, create_backbone
from genmetrics.devices import resolve_device
from genmetrics.errors import UserError
from genmetrics.features import adm_batches
from genmetrics.features import reference as refstats
from genmetrics.features.extract import ExtractedFeatures, FeatureRequest
from genmetrics.features.gaussian import GaussianStats
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue
from genmetrics.pipeline.plan import (
    EvaluationPlan,
    check_run_settings,
    plan_evaluation,
    resolve_batch_size,
)
from genmetrics.pipeline.reference import read_reference
from genmetrics.pipeline.runners import ExtractionSettings, Runner, extract_set, make_runner
from genmetrics.pipeline.services import MetricServices
from genmetrics.results.manifest import base_manifest
from genmetrics.results.result import EvaluationResult
from genmetrics.sources.decode import DECODE_POLICY
from genmetrics.sources.items import ImageItem, items_from, printable


def evaluate(
    generated: Any,
    reference: Any = None,
    metrics: str | Sequence[str] = ("fid",),
    *,
    protocol: str = "clean",
    batch_size: int | None = None,
    device: str = "auto",
    dtype: str = "fp32",
    allow_tf32: bool = False,
    workers: int | None = None,
    seed: int = 0,
    offline: bool | None = None,
    strict: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    backbones: dict[str, Backbone] | None = None,
    prompts: Any = None,
    allow_missing: bool = False,
    runner: Runner | None = None,
    ray: str | bool | None = None,
    groups: Mapping[str, Sequence[str]] | Callable[[str, Any], str] | None = None,
    group_metrics: Sequence[str] = (),
    **options: Any,
) -> EvaluationResult | None:
    """Compute ``metrics`` for the ``generated`` images (against ``reference`` when needed).

    Sources are folders, archives, path lists, or in-memory images (see
    :func:`genmetrics.sources.items.items_from`); ``reference`` may also be a ``.npz`` of
    statistics. Extra keyword options (``kid_subsets``, ``is_splits``, ``pr_k``…) go to the
    metrics. ``backbones`` lets a caller supply ready backbone instances by name.
    ``prompts`` (a manifest, suite name or suite file; sidecar ``.txt`` files when omitted)
    attaches a prompt to each generated image for text–image metrics.

    Under ``torchrun`` (or with ``ray``: an address, or ``True`` for a local cluster) the
    images are sharded over the processes; the result is returned on rank 0 (the driver) and
    ``None`` on the other ranks.

    ``groups`` (name → image ids, or a function of (image id, prompt record or None) giving
    the group, e.g. the style of a benchmark prompt) adds ``group_metrics``
    computed on each group's images to ``result.groups``, from the same pass: generated
    features are kept per image so every group's statistics come from slicing them, and the
    reference is extracted once.
    """
    plan = plan_evaluation(metrics, options, with_reference=reference is not None, seed=seed,
                           supplied=tuple(backbones or ()))
    check_run_settings(batch_size=batch_size, workers=workers, dtype=dtype)
    runner = runner or make_runner(ray)
    ctx = distributed.context() if runner.name == "torchrun" else None
    device = resolve_device(ctx.device(device) if ctx is not None else device)
    batch_size = resolve_batch_size(batch_size, device)
    sources = _list_sources(plan, generated, reference, prompts, allow_missing)

    bopts = BackboneOptions(protocol=protocol, device=device, dtype=dtype, offline=offline,
                            allow_tf32=allow_tf32)
    instances: dict[str, Backbone] = dict(backbones or {})
    for name in plan.backbones:
        if name not in instances:
            instances[name] = create_backbone(name, bopts)
    plan.check_outputs(instances)
    ref_stats = _stats_file(sources.ref_from_file, reference, instances, protocol) if sources.stats_file else None

    settings = ExtractionSettings(
        batch_size=batch_size, workers=workers, strict=strict, cache=cache,
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        progress=progress, backbone_options=bopts,
    )
    gen, ref = _extract_both(plan, runner, sources, ref_stats, instances, settings, bool(groups))
    if gen is None:  # another rank of a torchrun job: rank 0 computes and reports
        return None
    _check_counts(plan.specs, len(gen), generated, ref if ref is not None and ref.ids else None,
                  reference, " readable")

    services = MetricServices(
        backbones=instances, generated_source=generated, device=device, offline=offline,
        batch_size=batch_size, workers=workers, store=settings.open_cache(),
        prompts=sources.prompts_for(gen.ids),
    )
    try:
        result = features_to_result(plan, gen, ref, services, instances, ref_stats=ref_stats,
                                    assignment=sources.assignment, prompts=prompts,
                                    protocol=protocol, seed=seed, device=device, dtype=dtype,
                                    reference=reference)
        result.groups = _group_values(plan, _named_groups(groups, gen, services), group_metrics,
                                      gen, ref, services)
        result.manifest["batch_size"] = _batch_sizes(batch_size, gen, ref)
    finally:
        if services.store is not None:
            services.store.close()
    return result


def _batch_sizes(asked: int, *sides: ExtractedFeatures | None) -> dict[str, int]:
    """The batch size each backbone ran with: ``asked``, or less where a device ran out of
    memory and halved it."""
    used = {name: asked for side in sides if side is not None for name in side.forwards}
    for side in sides:
        for name, size in (side.batch_sizes if side is not None else {}).items():
            used[name] = min(size, used.get(name, size))
    return used


def features_to_result(plan: EvaluationPlan, gen: ExtractedFeatures, ref: ExtractedFeatures | None,
                       services: MetricServices, instances: dict[str, Backbone], *,
                       ref_stats=None, assignment=None, prompts=None, **run: Any) -> EvaluationResult:
    """Every metric of ``plan`` from extracted features, as the result ``evaluate`` returns:
    the step shared with :class:`genmetrics.pipeline.evaluator.Evaluator`. ``run`` holds the
    run's settings for the manifest (``protocol``, ``seed``, ``device``, ``dtype``,
    ``reference``)."""
    context = MetricContext(gen, ref, plan.options, services, requested=plan.names)
    values = {spec.name: _compute(spec, context) for spec in plan.specs}
    return _result(plan, values, gen, ref, ref_stats, services, assignment, prompts, instances, **run)


@dataclass
class _Sources:
    """Both image sets listed (and counted) before any network runs."""

    generated: Any
    gen_items: Sequence[ImageItem]
    reference: Any
    ref_items: Sequence[ImageItem] | None
    stats_file: bool
    assignment: Any = None
    ref_from_file: tuple[FeatureRequest, ...] = ()
    """Reference requests a statistics file serves (the rest come from ``ref_items``)."""
    ref_from_images: tuple[FeatureRequest, ...] = ()
    ref_source: Any = None
    """What a Ray worker lists the reference images from: the reference path, or the items
    themselves for an ADM batch's images."""

    def prompts_for(self, ids: Sequence[str]) -> list[Any] | None:
        """The prompt record of each extracted image, in feature order."""
        if self.assignment is None:
            return None
        by_id = dict(zip((i.id for i in self.assignment.items), self.assignment.records, strict=True))
        return [by_id[i] for i in ids]


def _list_sources(plan: EvaluationPlan, generated: Any, reference: Any, prompts: Any,
                  allow_missing: bool) -> _Sources:
    gen_items = items_from(generated)
    assignment = None
    if prompts is not None or plan.needs_prompts:
        from genmetrics.prompts.attach import attach_prompts

        assignment = attach_prompts(gen_items, prompts, allow_missing=allow_missing)
        gen_items = assignment.items
        if not gen_items:
            raise UserError("no generated image has a prompt; check --prompts")
    stats_file = isinstance(reference, (str, os.PathLike)) and str(reference).lower().endswith(".npz")
    # a statistics file serves its Gaussian spaces; an ADM batch's images (arr_0) the rest
    from_file, from_images = _split_reference(plan, reference) if stats_file else ((), plan.reference)
    ref_items = (None if reference is None or not from_images
                 else adm_batches.adm_items(reference) if stats_file else items_from(reference))
    _check_counts(plan.specs, len(gen_items), generated, ref_items, reference)
    return _Sources(generated, gen_items, reference, ref_items, bool(from_file), assignment,
                    from_file, from_images, ref_items if stats_file else reference)


def _extract_both(plan, runner, sources: _Sources, ref_stats, instances, settings, grouped: bool):
    """(generated, reference) features, merged on the main process; ``(None, None)`` on the
    other ranks. Grouped runs keep the generated features per image (groups slice them)."""
    gen_requests = plan.generated
    if grouped:
        gen_requests = tuple(dict.fromkeys(replace(r, form="array") for r in gen_requests))
    gen = extract_set(runner, "generated", sources.gen_items, sources.generated, gen_requests,
                      instances, settings)
    if gen is not None and grouped:
        _add_gaussians(gen, plan.generated)
    ref = None
    if sources.ref_from_images:
        ref = extract_set(runner, "reference", sources.ref_items, sources.ref_source,
                          sources.ref_from_images, instances, settings)
    if ref_stats is not None:
        stats_ref = ref_stats.features_for([(r.backbone, r.output) for r in sources.ref_from_file])
        for key, stats in stats_ref.gaussians.items():
            if gen is not None and key in gen.gaussians and gen.gaussian(*key).dim != stats.dim:
                raise UserError(
                    f"{sources.reference}: the {key[0]}:{key[1]} statistics are {stats.dim}-d but "
                    f"this run's features are {gen.gaussian(*key).dim}-d; recompute them with "
                    "genmetrics stats"
                )
        if ref is None:
            ref = stats_ref
        else:
            ref.gaussians.update(stats_ref.gaussians)
    return (gen, ref) if runner.is_main else (None, None)


def _named_groups(groups, gen: ExtractedFeatures, services: MetricServices) -> Mapping[str, Sequence[str]]:
    """``groups`` as name → ids (a function of (id, prompt record) is applied to each image)."""
    if not callable(groups):
        return groups or {}
    named: dict[str, list[str]] = {}
    for image_id, record in zip(gen.ids, services.prompts or [None] * len(gen), strict=True):
        named.setdefault(groups(image_id, record), []).append(image_id)
    return named


def _add_gaussians(feats: ExtractedFeatures, requests: Sequence[FeatureRequest]) -> None:
    """Gaussian statistics of the requested spaces from the per-image rows (float64)."""
    for r in requests:
        if r.form == "gaussian":
            feats.gaussians[(r.backbone, r.output)] = GaussianStats().update(feats.array(r.backbone, r.output))


def _group_values(plan: EvaluationPlan, groups: Mapping[str, Sequence[str]], names: Sequence[str],
                  gen: ExtractedFeatures, ref: ExtractedFeatures | None,
                  services: MetricServices) -> dict[str, dict[str, MetricValue]]:
    """``names`` computed on each group's images (ids that were not read are left out)."""
    specs = [s for s in plan.specs if s.name in names]
    row = {i: n for n, i in enumerate(gen.ids)}
    out: dict[str, dict[str, MetricValue]] = {}
    for group, ids in groups.items():
        kept = [i for i in ids if i in row]
        if not kept:
            continue
        sub = replace(gen, gaussians={}).subset(kept)
        _add_gaussians(sub, plan.generated)
        for spec in specs:
            if len(sub) < spec.min_images:
                raise UserError(f"{group}: {spec.name} needs at least {spec.min_images} images; got {len(sub)}")
        part = replace(services, prompts=[services.prompts[row[i]] for i in kept] if services.prompts else None)
        context = MetricContext(sub, ref, plan.options, part, requested=plan.names)
        out[group] = {spec.name: _compute(spec, context) for spec in specs}
    return out


def _split_reference(plan: EvaluationPlan, reference: Any) -> tuple[tuple, tuple]:
    """(requests a statistics ``.npz`` serves, requests its images serve). An ADM reference
    batch serves the Gaussian requests of its spaces from its statistics and every other one
    from its images (``arr_0``); any other file serves all (or refuses, see _stats_file)."""
    if not plan.reference:
        return (), ()
    if not adm_batches.is_adm_batches(reference):
        return plan.reference, ()
    from_file = tuple(r for r in plan.reference
                      if r.form == "gaussian" and (r.backbone, r.output) in adm_batches.ADM_SPACES)
    return from_file, tuple(r for r in plan.reference if r not in from_file)


def _stats_file(requests: Sequence[FeatureRequest], reference: Any,
                instances: dict[str, Backbone], protocol: str):
    """A statistics ``.npz`` as the reference, before any image is read: its headers and
    manifest checked against the backbone, output, dims and protocol of this run first, then
    only the matrices of the spaces this run uses read and validated."""
    if any(r.form != "gaussian" for r in requests):
        raise UserError(
            f"{reference}: a statistics file only serves Fréchet distances (fid, sfid, fd…); "
            "pass a folder of images as --reference for the other metrics"
        )
    ref = read_reference(Path(reference))
    for request in requests:
        refstats.check_reference(ref, instances[request.backbone], output=request.output,
                                 protocol=protocol)
    ref.load([(r.backbone, r.output) for r in requests])
    return ref


def _check_counts(specs, n_gen: int, generated, ref, reference, readable: str = "") -> None:
    """Every metric has the images it needs on each side (before and after decoding)."""
    for spec in specs:
        if n_gen < spec.min_images:
            raise UserError(
                f"{_describe(generated)}: {spec.name} needs at least {spec.min_images}{readable} "
                f"generated images; got {n_gen}"
            )
        if spec.needs_reference and ref is not None and len(ref) < spec.min_images:
            raise UserError(
                f"{_describe(reference)}: {spec.name} needs at least {spec.min_images}{readable} "
                f"reference images; got {len(ref)}"
            )


def _compute(spec: MetricSpec, ctx: MetricContext) -> MetricValue:
    """One metric; warnings it raises become part of its value (and so of the result)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = spec.compute(ctx)
    for w in caught:
        message = str(w.message)
        if message not in value.warnings:
            value.warnings.append(message)
    return value


def _describe(source: Any) -> str:
    return printable(str(source)) if isinstance(source, (str, os.PathLike)) else "in-memory images"


def _per_image_rows(
    feats: ExtractedFeatures | None, columns: dict[str, dict[str, np.ndarray]]
) -> list[dict[str, Any]]:
    """One row per image of ``feats`` with each metric's ``columns`` (metric -> column ->
    array in image order); [] without images."""
    if feats is None or not feats.ids:
        return []
    rows = [
        {"id": i, "path": loc, "sha256": h}
        for i, loc, h in zip(feats.ids, feats.locations, feats.hashes, strict=True)
    ]
    for name, by_column in columns.items():
        for column, arr in by_column.items():
            arr = np.asarray(arr)
            if len(arr) != len(rows):
                continue
            for row, v in zip(rows, arr.tolist(), strict=True):
                row[f"{name}.{column}" if column != name else name] = v
    return rows


def _stats_count(ref: ExtractedFeatures | None) -> int | None:
    if ref is None or not ref.gaussians:
        return None
    stats = next(iter(ref.gaussians.values()))
    return int(stats.to_arrays().get("n") or 0) or None


def _result(plan, values, gen, ref, ref_stats, services, assignment, prompts, instances, *,
            protocol, seed, device, dtype, reference) -> EvaluationResult:
    per_image = _per_image_rows(gen, {n: v.per_image for n, v in values.items()})
    ref_columns = {n: v.per_reference_image for n, v in values.items() if v.per_reference_image}
    counts = {
        "generated": len(gen),
        "generated_skipped": len(gen.skipped),
        "reference": (len(ref) if ref is not None and ref.ids else _stats_count(ref)),
        "reference_skipped": len(ref.skipped) if ref is not None else 0,
        "forwards": {k: gen.forwards.get(k, 0) + (ref.forwards.get(k, 0) if ref else 0) for k in instances},
        "cache_hits": {k: gen.cache_hits.get(k, 0) + (ref.cache_hits.get(k, 0) if ref else 0) for k in instances},
        "cache_corrupt_rows": gen.cache_corrupt_rows + (ref.cache_corrupt_rows if ref is not None else 0)
        + (services.store.corrupt_rows if services.store is not None else 0),
    }
    manifest = base_manifest(
        metrics=list(plan.names),
        protocol=protocol,
        decode_policy=DECODE_POLICY,
        seed=seed,
        options={k: plan.options[k] for k in sorted(plan.options)},
        backbones={k: b.manifest() for k, b in instances.items()},
        device=device,
        dtype=dtype,
        float_math="float64",
        sample_counts={"generated": counts["generated"], "reference": counts["reference"]},
        reference=str(reference) if isinstance(reference, (str, os.PathLike)) else (
            None if reference is None else "in-memory"),
    )
    if ref_stats is not None:  # what made the statistics file (None: no manifest, assumed)
        manifest["reference_manifest"] = ref_stats.manifest
        if ref_stats.manifest is None:
            manifest["reference_assumed"] = refstats.ASSUMED
    skipped = list(gen.skipped) + (list(ref.skipped) if ref is not None else [])
    if assignment is not None:
        counts["without_prompt_skipped"] = len(assignment.images_without_prompt)
        counts["prompts_without_image"] = len(assignment.prompts_without_image)
        manifest["prompts"] = (
            "sidecar .txt" if prompts is None
            else f"suite {prompts.name} ({prompts.source_sha256})" if hasattr(prompts, "source_sha256")
            else str(prompts)
        )
        for row, rec in zip(per_image, services.prompts, strict=True):
            row["prompt"] = rec.prompt
            if rec.style is not None:
                row["style"] = rec.style
            if rec.prompt_id is not None:
                row["prompt_id"] = rec.prompt_id
        skipped += [(loc, "no prompt") for loc in assignment.images_without_prompt]
    per_reference = _per_image_rows(ref, ref_columns) if ref_columns else []
    return EvaluationResult(values, counts, manifest, per_image, skipped,
                            per_reference_image=per_reference)
