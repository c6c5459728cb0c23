"""``genmetrics.Evaluator``: the metrics of :func:`genmetrics.evaluate`, fed batch by batch from
a training loop, merged over torch.distributed ranks, carried in checkpoints.

It is ``evaluate`` cut at its seam, not a second pipeline: the same plan
(:func:`~genmetrics.pipeline.plan.plan_evaluation`), the same one-pass extraction
(:func:`~genmetrics.features.extract.extract_features`) on each update, the reference set through
the same runner and cache, and the same "features → result" step
(:func:`~genmetrics.pipeline.evaluate.features_to_result`). So ``compute()`` returns the
:class:`~genmetrics.results.result.EvaluationResult` that ``evaluate`` returns on the same
images: the same numbers (bit-identical per-image features when the batches are the same),
std/CI, warnings and manifest.

Memory: Fréchet-only metric sets keep float64 Gaussian statistics, O(D²) whatever the number
of images (Inception pool3: 32 MiB per side); per-image rows are kept only for the metrics that
need them (see :mod:`genmetrics.pipeline.feature_state`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from genmetrics import catalog
from genmetrics.backbones.registry import Backbone, BackboneOptions, create_backbone
from genmetrics.devices import resolve_device
from genmetrics.errors import UserError
from genmetrics.features import adm_batches
from genmetrics.features.extract import ExtractedFeatures, extract_features
from genmetrics.metrics.registry import get_metric
from genmetrics.pipeline import evaluator_sync
from genmetrics.pipeline.batch_input import batch_images, prompt_records
from genmetrics.pipeline.caller_state import preserved
from genmetrics.pipeline.evaluate import (
    _check_counts,
    _split_reference,
    _stats_file,
    features_to_result,
)
from genmetrics.pipeline.feature_state import FeatureState
from genmetrics.pipeline.plan import (
    check_run_settings,
    parse_metric_names,
    plan_evaluation,
    resolve_batch_size,
)
from genmetrics.pipeline.runners import ExtractionSettings, LocalRunner, extract_set
from genmetrics.pipeline.services import MetricServices
from genmetrics.progress import wanted
from genmetrics.results.result import EvaluationResult
from genmetrics.sources.items import ImageItem, items_from

STATE_FORMAT = "genmetrics-evaluator/1"
FED = "update(real=True)"
"""What the manifest names as the reference when real images came through ``update``."""
PROMPTS_FED = "update(prompts=…)"
EVALUATE_ONLY = {
    "prompts": "pass each batch's prompts to update(images, prompts=[…])",
    "allow_missing": "every image fed with a prompt metric needs its prompt",
    "runner": "under torch.distributed every rank feeds its own images; compute() merges them",
    "ray": "under torch.distributed every rank feeds its own images; compute() merges them",
    "groups": "use one Evaluator per group",
    "group_metrics": "use one Evaluator per group",
}
"""``evaluate`` arguments that have no meaning for a stream of batches, with what to do."""


class Evaluator:
    """Stateful metrics for a training loop (see the module docstring).

    ``metrics``, ``reference`` (a folder, archive, list file, in-memory images or a statistics
    ``.npz``) and the keyword options are those of :func:`genmetrics.evaluate` (``protocol``,
    ``batch_size``, ``device``, ``dtype``, ``seed``, ``backbones``, metric options such as
    ``kid_subset_size`` or ``features``…). Without a ``reference``, metrics that compare with
    real images take them from ``update(images, real=True)``.

    Under torch.distributed (an initialised process group of several processes) ``compute()``
    is a collective: every rank must call it, also a rank that had no images; the ranks'
    features are merged in rank order, and the result is returned on every rank
    (``results_on="all"``) or on rank 0 only (``"rank0"``, ``None`` elsewhere). ``sync=False``
    computes each rank's own images.

    ``progress`` (default: on in a terminal or notebook) draws a bar while a reference folder
    is extracted; ``update`` stays quiet (a training loop has its own bar). Update batches
    skip the feature cache (new images every time); the reference folder, text embeddings
    and derived numbers go through it when ``cache`` is on.
    """

    def __init__(
        self,
        metrics: str | Sequence[str] = ("fid",),
        reference: Any = None,
        *,
        protocol: str = "clean",
        batch_size: int | None = None,
        device: str = "auto",
        dtype: str = "fp32",
        workers: int | None = None,
        seed: int = 0,
        offline: bool | None = None,
        strict: bool = False,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        progress: bool | None = None,
        backbones: dict[str, Backbone] | None = None,
        allow_tf32: bool = False,
        sync: bool = True,
        results_on: str = "all",
        **options: Any,
    ) -> None:
        if results_on not in ("all", "rank0"):
            raise UserError(f"results_on must be 'all' or 'rank0', got {results_on!r}")
        for name, why in EVALUATE_ONLY.items():
            if name in options:
                raise UserError(f"Evaluator takes no {name}=: {why}")
        with preserved():
            catalog.load()
            names = parse_metric_names(metrics)
            compares = any(get_metric(n).needs_reference for n in names)
            self.plan = plan_evaluation(names, options, with_reference=reference is not None or compares,
                                        seed=seed, supplied=tuple(backbones or ()))
            check_run_settings(batch_size=batch_size, workers=workers, dtype=dtype)
            self.device = resolve_device(_rank_device(device))
            batch_size = resolve_batch_size(batch_size, self.device)
            self.protocol, self.dtype, self.seed = protocol, dtype, seed
            self.sync, self.results_on = sync, results_on
            bopts = BackboneOptions(protocol=protocol, device=self.device, dtype=dtype,
                                    offline=offline, allow_tf32=allow_tf32)
            self.backbones: dict[str, Backbone] = dict(backbones or {})
            for name in self.plan.backbones:
                if name not in self.backbones:
                    self.backbones[name] = create_backbone(name, bopts)
            self.plan.check_outputs(self.backbones)
            self._settings = ExtractionSettings(
                batch_size=batch_size, workers=workers, strict=strict, cache=cache,
                cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
                progress=wanted(progress), backbone_options=bopts,
            )
            self._offline = offline
            self.reference = reference
            self._fed = reference is None and bool(self.plan.reference)
            self._setup_reference(reference)
            self.reset()

    # -- feeding ----------------------------------------------------------------------------

    def update(self, images: Any, prompts: Any = None, real: bool = False) -> None:
        """Add a batch: generated images, or real ones (``real=True``) when no reference was
        given. ``prompts`` (one string or record per image) feed text–image and reward
        metrics. A bad batch is one :class:`UserError` naming it (``update #3: …``) and
        changes nothing."""
        number = f"update #{self._updates + 1}{' (real=True)' if real else ''}"
        with preserved():
            try:
                side = self._side(real)
                arrays = batch_images(images)
                records = None if real else prompt_records(prompts, len(arrays))
                if not arrays:
                    return
                if side.keep_prompts and records is None:
                    users = ", ".join(s.name for s in self.plan.specs if s.needs_prompts)
                    raise UserError(f"{users} need(s) the prompt of each image: pass "
                                    "update(images, prompts=[one per image])")
                items = [ImageItem(f"{i:05d}", f"image[{i}]", (lambda a=a: a)) for i, a in enumerate(arrays)]
                used = {r.backbone: self.backbones[r.backbone] for r in side.requests}
                feats = extract_features(
                    items, used, side.requests, cache=None, batch_size=self._settings.batch_size,
                    workers=self._settings.workers, strict=True,
                    prompts=[r.prompt for r in records] if records else None,
                )
                side.check(feats)
            except UserError as exc:
                raise UserError(f"{number}: {exc}") from None
            side.add(feats, records if side.keep_prompts else None)
            self._updates += 1

    def _side(self, real: bool) -> FeatureState:
        if not real:
            return self._generated
        if self._real is None:
            why = ("a reference was given when the Evaluator was made" if self.reference is not None
                   else f"none of {', '.join(self.plan.names)} compares with real images")
            raise UserError(f"real=True is not used: {why}")
        return self._real

    def reset(self) -> None:
        """Forget every image fed so far (a reference folder or file given at construction
        stays, with its features)."""
        self._generated = FeatureState(self.plan.generated, keep_prompts=self.plan.needs_prompts)
        self._real = FeatureState(self.plan.reference) if self._fed else None
        self._updates = 0

    @property
    def counts(self) -> dict[str, int]:
        """Images fed so far in this process: ``{"generated": n, "reference": n}``."""
        return {"generated": self._generated.n, "reference": self._real.n if self._real else 0}

    @property
    def nbytes(self) -> int:
        """Bytes of features held in this process (rows and statistics of both sides)."""
        return self._generated.nbytes() + (self._real.nbytes() if self._real else 0)

    # -- results ----------------------------------------------------------------------------

    def compute(self) -> EvaluationResult | None:
        """The :class:`EvaluationResult` of every image fed so far (over all ranks); the
        state is kept (call :meth:`reset` to start over)."""
        with preserved():
            payload = {"generated": self._generated, "reference": self._real, "updates": self._updates}
            ctx = evaluator_sync.current() if self.sync else None
            if ctx is None:
                return self._finish([payload])
            return evaluator_sync.gather_and_run(ctx, payload, self._finish, self.results_on == "all")

    def _finish(self, parts: list[dict[str, Any]]) -> EvaluationResult:
        gen = _merge([p["generated"] for p in parts])
        if gen.n == 0:
            raise UserError("no generated images were fed: call update(images) before compute()")
        ref = self._reference_features(_merge([p["reference"] for p in parts]) if self._fed else None)
        _check_counts(self.plan.specs, gen.n, "update()", ref if ref is not None and ref.ids else None,
                      self._reference_label, "")
        feats = gen.features()
        _check_dims(feats, ref, self.reference)
        services = MetricServices(
            backbones=self.backbones, generated_source=None, device=self.device,
            offline=self._offline, batch_size=self._settings.batch_size,
            workers=self._settings.workers, store=self._settings.open_cache(),
            prompts=list(gen.records) if gen.keep_prompts else None,
        )
        try:
            result = features_to_result(
                self.plan, feats, ref, services, self.backbones, ref_stats=self._ref_stats,
                assignment=_no_skipped() if gen.keep_prompts else None,
                prompts=PROMPTS_FED if gen.keep_prompts else None, protocol=self.protocol,
                seed=self.seed, device=self.device, dtype=self.dtype, reference=self._reference_label,
            )
        finally:
            if services.store is not None:
                services.store.close()
        if not gen.keeps_rows:
            result.per_image = []  # nothing was kept per image (Fréchet-only metrics)
        result.manifest["evaluator"] = {
            "updates": sum(int(p["updates"]) for p in parts), "processes": len(parts),
            "feature_bytes_per_image": self.bytes_per_image,
        }
        return result

    @property
    def bytes_per_image(self) -> dict[str, int]:
        """Feature bytes kept per fed image on each side (0: Gaussian statistics only; known
        once a batch went through)."""
        return {"generated": self._generated.bytes_per_image(),
                "reference": self._real.bytes_per_image() if self._real else 0}

    # -- reference --------------------------------------------------------------------------

    def _setup_reference(self, reference: Any) -> None:
        """List (and count) the reference images and read a statistics file now: its
        problems are errors at construction, before any training step."""
        self._ref_stats = None
        self._ref_items: Sequence[ImageItem] | None = None
        self._ref_requests: tuple = ()
        self._ref_features: ExtractedFeatures | None = None
        self._reference_label = FED if self._fed else None
        if reference is None:
            return
        path_like = isinstance(reference, (str, os.PathLike))
        self._reference_label = str(reference) if path_like else "in-memory"
        stats_file = path_like and str(reference).lower().endswith(".npz")
        from_file, self._ref_requests = _split_reference(self.plan, reference) if stats_file else ((), self.plan.reference)
        if self._ref_requests:
            self._ref_items = adm_batches.adm_items(reference) if stats_file else items_from(reference)
            _check_counts([s for s in self.plan.specs if s.needs_reference], sys.maxsize, None,
                          self._ref_items, reference)
        if from_file:
            self._ref_stats = _stats_file(from_file, reference, self.backbones, self.protocol)
            self._ref_from_file = from_file

    def _reference_features(self, fed: FeatureState | None) -> ExtractedFeatures | None:
        if self._fed:
            if fed is None or fed.n == 0:
                users = ", ".join(s.name for s in self.plan.specs if s.needs_reference)
                raise UserError(f"{users} compare(s) with real images, and none were fed: pass "
                                "reference= when making the Evaluator, or update(images, real=True)")
            return fed.features()
        if self.reference is None:
            return None
        if self._ref_features is None:  # extracted once, on the process that computes
            ref = None
            if self._ref_requests:
                used = {r.backbone: self.backbones[r.backbone] for r in self._ref_requests}
                ref = extract_set(LocalRunner(), "reference", self._ref_items, self.reference,
                                  self._ref_requests, used, self._settings)
            if self._ref_stats is not None:
                from_file = self._ref_stats.features_for([(r.backbone, r.output) for r in self._ref_from_file])
                if ref is None:
                    ref = from_file
                else:
                    ref.gaussians.update(from_file.gaussians)
            self._ref_features = ref
        return self._ref_features

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """This process's fed images as plain tensors, ints, strings, lists and dicts:
        ``torch.save`` it with the model, load it with ``torch.load(weights_only=True)``."""
        return {
            "format": STATE_FORMAT,
            "config": self._config(),
            "updates": self._updates,
            "generated": self._generated.state(),
            "reference": self._real.state() if self._real is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (of an Evaluator with the same backbones, weights
        and protocol). A mismatch is a UserError naming it; the state is then unchanged."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise UserError(f"not an Evaluator state (expected format {STATE_FORMAT!r})")
        saved = (state.get("config") or {}).get("backbones") or {}
        for name, key in self._config()["backbones"].items():
            if saved.get(name) != key:
                raise UserError(f"the saved state's {name} features were made with "
                                f"{saved.get(name) or 'no such backbone'}, this Evaluator's with {key} "
                                "(weights, protocol or dtype differ); they cannot be mixed")
        generated = self._generated.load(state["generated"])
        real = None
        if self._fed:
            if state.get("reference") is None:
                raise UserError("the saved state has no real images, this Evaluator takes them "
                                "from update(real=True); build it the same way")
            real = self._real.load(state["reference"])  # type: ignore[union-attr]
        self._generated, self._real, self._updates = generated, real, int(state.get("updates", 0))

    def _config(self) -> dict[str, Any]:
        used = dict.fromkeys(r.backbone for r in (*self.plan.generated, *self.plan.reference))
        return {"metrics": list(self.plan.names), "protocol": self.protocol,
                "backbones": {name: self.backbones[name].key for name in used}}

    def __repr__(self) -> str:
        c = self.counts
        return (f"Evaluator(metrics={list(self.plan.names)}, generated={c['generated']}, "
                f"reference={c['reference'] if self._fed else self._reference_label})")


def _merge(parts: list[FeatureState | None]) -> FeatureState | None:
    states = [p for p in parts if p is not None]
    if not states:
        return None
    return states[0] if len(states) == 1 else FeatureState.merged(states)


def _check_dims(gen: ExtractedFeatures, ref: ExtractedFeatures | None, reference: Any) -> None:
    """A statistics file must match this run's feature dimension in each space."""
    if ref is None:
        return
    for key, stats in ref.gaussians.items():
        if key in gen.gaussians and gen.gaussian(*key).dim not in (None, stats.dim):
            raise UserError(f"{reference}: the {key[0]}:{key[1]} statistics are {stats.dim}-d but "
                            f"this run's features are {gen.gaussian(*key).dim}-d; recompute them "
                            "with genmetrics stats")


def _no_skipped() -> Any:
    from genmetrics.prompts.attach import PromptAssignment

    return PromptAssignment([], [])


def _rank_device(device: str) -> str:
    """``auto``/``cuda`` in a distributed job: this rank's current CUDA device (set by the
    training framework), so each process uses its own GPU."""
    import torch

    if str(device) in ("auto", "cuda") and torch.cuda.is_available() and _distributed():
        return f"cuda:{torch.cuda.current_device()}"
    return device


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

