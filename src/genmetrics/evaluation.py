"""``genmetrics.evaluate``: every requested metric from one pass over each image set."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import (
    Backbone,
    BackboneOptions,
    check_backbone_available,
    create_backbone,
)
from genmetrics.devices import resolve_device
from genmetrics.errors import UserError
from genmetrics.features import reference as refstats
from genmetrics.features.cache import FeatureCache, default_cache_path
from genmetrics.features.extract import (
    ExtractedFeatures,
    FeatureRequest,
    encode_texts_cached,
    extract_features,
)
from genmetrics.metrics.builtin import check_options
from genmetrics.metrics.functional.gaussian import GaussianStats
from genmetrics.metrics.registry import MetricContext, MetricSpec, MetricValue, get_metric
from genmetrics.progress import progress_bar
from genmetrics.results.manifest import base_manifest
from genmetrics.results.result import EvaluationResult
from genmetrics.sources.decode import DECODE_POLICY
from genmetrics.sources.items import items_from, printable


def parse_metric_names(metrics: str | Sequence[str]) -> list[str]:
    """``"fid,KID,ms-ssim"`` → ``["fid", "kid", "ms_ssim"]`` (repeats once); an empty entry
    (``fid,,kid``: a name deleted by mistake) is an error, not skipped."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [str(n).strip().lower().replace("-", "_") for n in names]
    if not any(names):
        raise UserError("no metric given; pass e.g. --metrics fid,kid")
    if not all(names):
        raise UserError(f"--metrics {','.join(names)!r} has an empty entry; remove the extra comma")
    return list(dict.fromkeys(names))


def load_reference_stats(
    path: str | os.PathLike,
    backbone: Backbone | None = None,
    *,
    output: str = "pool3",
    protocol: str | None = None,
) -> refstats.ReferenceStats:
    """Read and validate a statistics ``.npz``; with ``backbone``, check that it (and
    ``protocol``) made them (see :mod:`genmetrics.features.reference`)."""
    ref = refstats.read_reference_stats(path)
    if backbone is not None:
        refstats.check_reference(ref, backbone, output=output, protocol=protocol)
    return ref


def save_reference_stats(stats: GaussianStats, path: str | os.PathLike, manifest: dict) -> Path:
    """Write ``mu``/``sigma`` (pytorch-fid's keys) plus ``n`` and the manifest as JSON text."""
    return refstats.save_reference_stats(stats, path, manifest)


def _metrics_by_output(specs: list[MetricSpec], options: dict, with_reference: bool) -> dict[tuple[str, str], list[str]]:
    """(backbone, output) → names of the requested metrics that need it."""
    out: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        requests = [*spec.generated(options), *(spec.reference(options) if with_reference else ())]
        for r in requests:
            names = out.setdefault((r.backbone, r.output), [])
            if spec.name not in names:
                names.append(spec.name)
    return out


def _missing_output(backbone: Backbone, output: str, metrics: list[str]) -> UserError:
    """Which metrics need ``output``, what the installed weights provide, and the fix."""
    names = ", ".join(metrics) or "this run"
    verb = "needs" if len(metrics) == 1 else "need"
    describe = getattr(backbone, "describe_output", None)
    what = f"{describe(output)} ('{output}')" if describe else f"output '{output}'"
    have = getattr(backbone, "weights_description", None) or f"outputs: {', '.join(backbone.outputs)}"
    fix_for = getattr(backbone, "output_fix", None)
    fix = fix_for(output) if fix_for else "import weights that include it (see genmetrics weights list)"
    return UserError(
        f"{names} {verb} {what}, but the installed {backbone.name} weights ({have}) lack "
        f"{'them' if describe else 'it'}; {fix}, or leave {names} out of --metrics"
    )


def _requests(specs: list[MetricSpec], side: str, options: dict) -> list[FeatureRequest]:
    out: dict[tuple[str, str, str], FeatureRequest] = {}
    for spec in specs:
        for r in (spec.generated if side == "generated" else spec.reference)(options):
            out[(r.backbone, r.output, r.form)] = r
    return list(out.values())


def evaluate(
    generated: Any,
    reference: Any = None,
    metrics: str | Sequence[str] = ("fid",),
    *,
    protocol: str = "clean",
    batch_size: int = 32,
    device: str = "auto",
    dtype: str = "fp32",
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
    **options: Any,
) -> EvaluationResult:
    """Compute ``metrics`` for the ``generated`` images (against ``reference`` when needed).

    Sources are folders, archives, path lists, or in-memory images (see
    :func:`genmetrics.sources.items.items_from`); ``reference`` may also be a ``.npz`` of FID
    statistics. Extra keyword options (``kid_subsets``, ``is_splits``, ``pr_k``…) go to the
    metrics. ``backbones`` lets a caller supply ready backbone instances by name.
    ``prompts`` (a manifest, suite name or suite file; sidecar ``.txt`` files when omitted)
    attaches a prompt to each generated image for text–image metrics.
    """
    names = parse_metric_names(metrics)
    specs = [get_metric(n) for n in names]
    opts = {**check_options(options), "seed": seed}
    check_run_settings(batch_size=batch_size, workers=workers, dtype=dtype)
    device = resolve_device(device)
    if reference is None:
        missing = [s.name for s in specs if s.needs_reference]
        if missing:
            raise UserError(f"{', '.join(missing)} need(s) a reference set: pass --reference REAL_IMAGES")
    elif not any(s.needs_reference for s in specs):
        raise UserError(
            f"--reference is not used by {', '.join(names)}; leave it out, or add a metric "
            "that compares with a reference set (fid, kid, precision, recall, density, coverage)"
        )
    gen_requests = _requests(specs, "generated", opts)
    ref_requests = _requests(specs, "reference", opts) if reference is not None else []
    for name in dict.fromkeys(r.backbone for r in [*gen_requests, *ref_requests]):
        if name not in (backbones or {}):
            check_backbone_available(name)

    gen_items = items_from(generated)
    assignment = None
    if prompts is not None or any(s.needs_prompts for s in specs):
        from genmetrics.prompts.attach import attach_prompts

        assignment = attach_prompts(gen_items, prompts, allow_missing=allow_missing)
        gen_items = assignment.items
        if not gen_items:
            raise UserError("no generated image has a prompt; check --prompts")

    is_stats_file = isinstance(reference, (str, os.PathLike)) and str(reference).endswith(".npz")
    # both sources are listed (and counted) before any network runs
    ref_items = items_from(reference) if reference is not None and not is_stats_file and ref_requests else None
    _check_counts(specs, len(gen_items), generated, ref_items, reference)

    bopts = BackboneOptions(protocol=protocol, device=device, dtype=dtype, offline=offline)
    instances: dict[str, Backbone] = dict(backbones or {})
    for r in [*gen_requests, *ref_requests]:
        if r.backbone not in instances:
            instances[r.backbone] = create_backbone(r.backbone, bopts)
    users = _metrics_by_output(specs, opts, reference is not None)
    for r in [*gen_requests, *ref_requests]:
        if r.output not in instances[r.backbone].outputs:
            raise _missing_output(instances[r.backbone], r.output, users.get((r.backbone, r.output), []))
    ref_stats = None  # a statistics .npz is read and checked against the backbone before any work
    if is_stats_file and ref_requests:
        if any(r.form != "gaussian" for r in ref_requests):
            raise UserError(
                f"{reference}: a statistics file only serves FID; pass a folder of images "
                "as --reference for the other metrics"
            )
        stats_request = ref_requests[0]
        ref_stats = load_reference_stats(
            Path(reference), instances[stats_request.backbone], output=stats_request.output,
            protocol=protocol,
        )

    store = FeatureCache(default_cache_path(cache_dir)) if cache else None
    try:
        gen = _extract("generated", gen_items, instances, gen_requests, store, batch_size, workers, strict, progress, generated)
        ref = None
        if reference is not None:
            if ref_stats is not None:
                key = (stats_request.backbone, stats_request.output)
                ref_stats.check_dim(gen.gaussian(*key).dim if key in gen.gaussians else None,
                                    f"this run's {key[0]} {key[1]} features")
                ref = ref_stats.features(*key)
            elif ref_requests:
                ref = _extract("reference", ref_items, instances, ref_requests, store, batch_size, workers, strict, progress, reference)
        _check_counts(specs, len(gen), generated, ref if ref is not None and ref.ids else None, reference, " readable")

        services: dict[str, Any] = {}
        if assignment is not None:
            by_id = dict(zip((i.id for i in assignment.items), assignment.records, strict=True))
            services["prompts"] = [by_id[i] for i in gen.ids]
            services["encode_texts"] = lambda name, texts: encode_texts_cached(instances[name], texts, store)  # type: ignore[arg-type]
            services["count_truncated"] = lambda name, texts: _count_truncated(instances[name], texts)
            services["source_embeds"] = lambda name: _source_embeddings(
                services["prompts"], generated, instances[name], store, batch_size, workers, strict)
        if store is not None:
            services["derived"] = store  # get_value / put_value: numbers derived from content
        services["aesthetic_head"] = lambda head, embeds: _aesthetic_scores(head, embeds, device, offline)
        ctx = MetricContext(gen, ref, opts, services, requested=tuple(names))
        values = {spec.name: _compute(spec, ctx) for spec in specs}
    finally:
        if store is not None:
            store.close()

    per_image = _per_image_rows(gen, values)
    counts = {
        "generated": len(gen),
        "generated_skipped": len(gen.skipped),
        "reference": (len(ref) if ref is not None and ref.ids else _stats_count(ref)),
        "reference_skipped": len(ref.skipped) if ref is not None else 0,
        "forwards": {k: gen.forwards.get(k, 0) + (ref.forwards.get(k, 0) if ref else 0) for k in instances},
        "cache_hits": {k: gen.cache_hits.get(k, 0) + (ref.cache_hits.get(k, 0) if ref else 0) for k in instances},
        "cache_corrupt_rows": store.corrupt_rows if store is not None else 0,
    }
    manifest = base_manifest(
        metrics=names,
        protocol=protocol,
        decode_policy=DECODE_POLICY,
        seed=seed,
        options={k: opts[k] for k in sorted(opts)},
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
        for row, rec in zip(per_image, services["prompts"], strict=True):
            row["prompt"] = rec.prompt
            if rec.style is not None:
                row["style"] = rec.style
            if rec.prompt_id is not None:
                row["prompt_id"] = rec.prompt_id
        skipped += [(loc, "no prompt") for loc in assignment.images_without_prompt]
    return EvaluationResult(values, counts, manifest, per_image, skipped)


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


def check_run_settings(*, batch_size: int, workers: int | None, dtype: str) -> None:
    """Run-wide settings in range, checked before any work."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"--batch-size must be an integer of at least 1, got {batch_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"--workers must be an integer of at least 1 (or left out), got {workers!r}")
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")


DTYPES = ("fp32", "fp64", "bf16", "fp16")
"""Accepted ``--dtype`` names; the FID Inception always runs fp32 (fp64 on request)."""


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


def _count_truncated(backbone: Any, texts: list[str]) -> int:
    counter = getattr(backbone, "count_truncated", None)
    return int(counter(texts)) if counter else 0


def _aesthetic_scores(head_name: str, embeds: np.ndarray, device: str, offline: bool | None) -> np.ndarray:
    import torch

    from genmetrics.backbones.aesthetic import aesthetic_score, load_aesthetic_head

    head = load_aesthetic_head(head_name, device=device, offline=offline)
    return aesthetic_score(torch.from_numpy(np.asarray(embeds, np.float32)), head).double().cpu().numpy()


def _source_embeddings(records, generated, backbone, store, batch_size, workers, strict) -> np.ndarray:
    """Embeddings of each edited image's source image (manifest field ``source_image``,
    relative to the generated folder), one forward per distinct source."""
    from genmetrics.sources.items import ImageItem

    is_dir = isinstance(generated, (str, os.PathLike)) and Path(generated).is_dir()
    base = Path(generated) if is_dir else Path(".")
    paths = []
    for rec in records:
        src = rec.get("source_image")
        if src is None:
            raise UserError("clip_directional/clip_image_similarity need 'source_image' for every row of the --prompts manifest")
        path = Path(src) if Path(src).is_absolute() else base / src
        if not path.is_file():
            raise UserError(f"{path}: source image named in the manifest does not exist")
        paths.append(path)
    unique = list(dict.fromkeys(paths))
    items = [ImageItem(f"source/{i}", str(p), (lambda p=p: p.read_bytes())) for i, p in enumerate(unique)]
    feats = extract_features(items, {backbone.name: backbone}, [FeatureRequest(backbone.name, "embed")],
                             cache=store, batch_size=batch_size, workers=workers, strict=True)
    row_of = {p: i for i, p in enumerate(unique)}
    return feats.array(backbone.name, "embed")[[row_of[p] for p in paths]]


def _stats_count(ref: ExtractedFeatures | None) -> int | None:
    if ref is None:
        return None
    stats = ref.gaussians.get(("inception", "pool3"))
    return None if stats is None else int(stats.to_arrays().get("n") or 0) or None


def _extract(side, items, instances, requests, store, batch_size, workers, strict, progress, source):
    problems = list(getattr(items, "problems", ()))
    if problems and strict:
        where, reason = problems[0]
        raise UserError(f"{where}: {reason} (remove it, or run without --strict to skip it)")
    for where, reason in problems:
        print(f"warning: skipped {where}: {reason}", file=sys.stderr)
    with progress_bar(len(items), f"{side} images", progress) as advance:
        feats = extract_features(
            items, instances, requests, cache=store, batch_size=batch_size,
            workers=workers, strict=strict, progress=advance,
        )
    feats.skipped[:0] = problems
    if not feats.ids:
        first = f"; first: {feats.skipped[0][0]}: {feats.skipped[0][1]}" if feats.skipped else ""
        raise UserError(f"{_describe(source)}: none of the {len(items)} images could be read{first}")
    return feats


def _describe(source: Any) -> str:
    return printable(str(source)) if isinstance(source, (str, os.PathLike)) else "in-memory images"


def _per_image_rows(gen: ExtractedFeatures, values: dict[str, MetricValue]) -> list[dict[str, Any]]:
    rows = [
        {"id": i, "path": loc, "sha256": h}
        for i, loc, h in zip(gen.ids, gen.locations, gen.hashes, strict=True)
    ]
    for name, value in values.items():
        for column, arr in value.per_image.items():
            arr = np.asarray(arr)
            if len(arr) != len(rows):
                continue
            for row, v in zip(rows, arr.tolist(), strict=True):
                row[f"{name}.{column}" if column != name else name] = v
    return rows


def compute_reference_stats(
    images: Any,
    out: str | os.PathLike,
    *,
    protocol: str = "clean",
    batch_size: int = 32,
    device: str = "cpu",
    workers: int | None = None,
    offline: bool | None = None,
    strict: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    backbone: Backbone | None = None,
    dtype: str = "fp32",
) -> tuple[Path, int]:
    """Stream Inception pool3 statistics of ``images`` into a reusable ``.npz`` whose manifest
    names the backbone, weights, protocol and dtype (checked when it is used)."""
    bopts = BackboneOptions(protocol=protocol, device=resolve_device(device), dtype=dtype, offline=offline)
    backbone = backbone or create_backbone("inception", bopts)
    request = FeatureRequest("inception", "pool3", "gaussian")
    store = FeatureCache(default_cache_path(cache_dir)) if cache else None
    try:
        feats = _extract("reference", items_from(images), {"inception": backbone}, [request], store,
                         batch_size, workers, strict, progress, images)
    finally:
        if store is not None:
            store.close()
    stats = feats.gaussian("inception", "pool3")
    manifest = {**base_manifest(decode_policy=DECODE_POLICY),
                **refstats.stats_manifest(backbone, "pool3", protocol, len(feats), stats.dim)}
    path = save_reference_stats(stats, out, manifest)
    return path, len(feats)
