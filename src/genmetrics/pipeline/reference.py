"""Reference statistics of an image set in any feature space: streamed once (on any
runner), written as a pytorch-fid compatible ``.npz`` (``mu``/``sigma`` of the first space,
further spaces beside them) whose manifest names each space's backbone, output, weights,
preprocessing and dtype — checked whenever the file is used."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genmetrics import catalog, distributed
from genmetrics.backbones.registry import (
    Backbone,
    BackboneOptions,
    check_backbone_available,
    create_backbone,
)
from genmetrics.devices import resolve_device
from genmetrics.errors import UserError
from genmetrics.features import adm_batches
from genmetrics.features import reference as refstats
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.distribution import FEATURE_SPACES
from genmetrics.pipeline.plan import check_run_settings, resolve_batch_size
from genmetrics.pipeline.runners import ExtractionSettings, Runner, extract_set, make_runner
from genmetrics.results.manifest import base_manifest
from genmetrics.sources.decode import DECODE_POLICY
from genmetrics.sources.items import items_from

COMPANION_SPACES = {("inception", "pool3"): [("inception", "spatial")]}
"""Spaces that come free with another from the same forward (sFID's with FID's)."""


def feature_spaces(features: str | Sequence[str]) -> list[tuple[str, str]]:
    """``"inception,dinov2-vit-l14"`` → their (backbone, output) pairs, plus the companion
    spaces of the same forwards; a :class:`UserError` names an unknown space."""
    names = [n.strip() for n in (features.split(",") if isinstance(features, str) else features)]
    spaces: list[tuple[str, str]] = []
    for name in names:
        if name not in FEATURE_SPACES:
            raise UserError(f"--features {name!r} is not a feature space; use one of {', '.join(FEATURE_SPACES)}")
        space = FEATURE_SPACES[name]
        spaces += [space, *COMPANION_SPACES.get(space, [])]
    return list(dict.fromkeys(spaces))


def read_reference(path: str | os.PathLike) -> refstats.ReferenceStats:
    """A statistics file: ours, pytorch-fid's, or an ADM evaluator reference batch."""
    if adm_batches.is_adm_batches(path):
        return adm_batches.read_adm_batches(path)
    return refstats.read_reference_stats(path)


def compute_reference_stats(
    images: Any,
    out: str | os.PathLike,
    *,
    features: str | Sequence[str] = "inception",
    protocol: str = "clean",
    batch_size: int | None = None,
    device: str = "auto",
    workers: int | None = None,
    offline: bool | None = None,
    strict: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    backbone: Backbone | None = None,
    dtype: str = "fp32",
    allow_tf32: bool = False,
    runner: Runner | None = None,
    ray: str | bool | None = None,
) -> tuple[Path, int] | None:
    """Stream the Gaussian statistics of each feature space of ``features`` over ``images``
    (one pass, every backbone once per image) into ``out``. ``backbone`` supplies a ready
    instance for its name. Returns the path and image count (``None`` on the non-main ranks
    of a torchrun job)."""
    catalog.load()
    check_run_settings(batch_size=batch_size, workers=workers, dtype=dtype)
    spaces = feature_spaces(features)
    supplied = {backbone.name: backbone} if backbone is not None else {}
    for name in dict.fromkeys(b for b, _ in spaces):
        if name not in supplied:
            check_backbone_available(name)
    runner = runner or make_runner(ray)
    ctx = distributed.context() if runner.name == "torchrun" else None
    device = resolve_device(ctx.device(device) if ctx is not None else device)
    batch_size = resolve_batch_size(batch_size, device)
    bopts = BackboneOptions(protocol=protocol, device=device, dtype=dtype, offline=offline,
                            allow_tf32=allow_tf32)
    instances = {name: supplied.get(name) or create_backbone(name, bopts)
                 for name in dict.fromkeys(b for b, _ in spaces)}
    # a companion output the weights lack (e.g. a test backbone) is left out, a named one is not
    named = {FEATURE_SPACES[n.strip()] for n in (features.split(",") if isinstance(features, str) else features)}
    spaces = [s for s in spaces if s[1] in instances[s[0]].outputs or s in named]
    for name, output in spaces:
        if output not in instances[name].outputs:
            raise UserError(
                f"the {name} backbone has no output '{output}' (it has: "
                f"{', '.join(instances[name].outputs)})"
            )
    settings = ExtractionSettings(
        batch_size=batch_size, workers=workers, strict=strict, cache=cache,
        cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
        progress=progress, backbone_options=bopts,
    )
    requests = [FeatureRequest(name, output, "gaussian") for name, output in spaces]
    feats = extract_set(runner, "reference", items_from(images), images, requests, instances, settings)
    if feats is None:
        return None
    manifests = []
    for name, output in spaces:
        stats = feats.gaussian(name, output)
        manifests.append((stats, {**base_manifest(decode_policy=DECODE_POLICY),
                                  **refstats.stats_manifest(instances[name], output, protocol,
                                                            len(feats), stats.dim)}))
    (first, manifest), *extra = manifests
    return refstats.save_reference_stats(first, out, manifest, extra_spaces=extra), len(feats)
