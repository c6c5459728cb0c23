"""Planning: metric names → specs → feature requests → backbones, resolved once and checked
before any image is read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genmetrics import catalog
from genmetrics.backbones.registry import Backbone, check_backbone_available
from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.options import check_options
from genmetrics.metrics.registry import MetricSpec, get_metric

DTYPES = ("fp32", "fp64", "bf16", "fp16")
"""Accepted ``--dtype`` names; the FID Inception always runs fp32 (fp64 on request)."""


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


DEFAULT_BATCH_SIZES = {"cpu": 32, "cuda": 256, "mps": 64}
"""Images per forward when ``--batch-size`` is left out, by device type: large on a GPU so
the network is kept busy (halved on out-of-memory, see :mod:`genmetrics.features.extract`)."""


def check_run_settings(*, batch_size: int | None, workers: int | None, dtype: str) -> None:
    """Run-wide settings in range, checked before any work (``batch_size`` None: by device)."""
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise UserError(f"--batch-size must be an integer of at least 1, got {batch_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"--workers must be an integer of at least 1 (or left out), got {workers!r}")
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")


def resolve_batch_size(batch_size: int | None, device: str) -> int:
    """``batch_size``, or the default for ``device`` (a resolved name: cpu, cuda:N, mps)."""
    if batch_size is not None:
        return batch_size
    return DEFAULT_BATCH_SIZES.get(device.split(":")[0], 32)


@dataclass(frozen=True)
class EvaluationPlan:
    """What a run computes and what it needs, on each side."""

    names: tuple[str, ...]
    specs: tuple[MetricSpec, ...]
    options: dict[str, Any]
    generated: tuple[FeatureRequest, ...]
    reference: tuple[FeatureRequest, ...]

    @property
    def backbones(self) -> list[str]:
        """Every backbone the run needs, in first-use order."""
        return list(dict.fromkeys(r.backbone for r in (*self.generated, *self.reference)))

    @property
    def needs_prompts(self) -> bool:
        return any(s.needs_prompts for s in self.specs)

    def users(self, backbone: str, output: str) -> list[str]:
        """Names of the metrics that need ``output`` of ``backbone``."""
        return [
            s.name for s in self.specs
            if any((r.backbone, r.output) == (backbone, output)
                   for r in (*s.generated(self.options), *s.reference(self.options)))
        ]

    def check_outputs(self, instances: dict[str, Backbone]) -> None:
        """Every requested output exists in the backbone built for it (e.g. the IS logits
        are absent from pool3-only Inception weights)."""
        for r in (*self.generated, *self.reference):
            if r.output not in instances[r.backbone].outputs:
                raise _missing_output(instances[r.backbone], r.output, self.users(r.backbone, r.output))


def plan_evaluation(
    metrics: str | Sequence[str],
    options: dict[str, Any],
    *,
    with_reference: bool,
    seed: int = 0,
    supplied: Sequence[str] = (),
) -> EvaluationPlan:
    """Resolve ``metrics`` and ``options``; a :class:`UserError` before any work when a metric
    is unknown, an option is out of range, a reference is missing or unused, or a backbone
    cannot be built here (``supplied`` names backbones the caller provides ready-made)."""
    catalog.load()
    names = parse_metric_names(metrics)
    specs = [get_metric(n) for n in names]
    opts = {**check_options(options), "seed": seed}
    if not with_reference:
        missing = [s.name for s in specs if s.needs_reference]
        if missing:
            raise UserError(f"{', '.join(missing)} need(s) a reference set: pass --reference REAL_IMAGES")
    elif not any(s.needs_reference for s in specs):
        raise UserError(
            f"--reference is not used by {', '.join(names)}; leave it out, or add a metric "
            "that compares with a reference set (fid, kid, precision, recall, density, coverage)"
        )
    plan = EvaluationPlan(
        tuple(names), tuple(specs), opts,
        _requests(specs, "generated", opts),
        _requests(specs, "reference", opts) if with_reference else (),
    )
    for name in plan.backbones:
        if name not in supplied:
            check_backbone_available(name)
    return plan


def _requests(specs: Sequence[MetricSpec], side: str, options: dict) -> tuple[FeatureRequest, ...]:
    out: dict[tuple[str, str, str], FeatureRequest] = {}
    for spec in specs:
        for r in (spec.generated if side == "generated" else spec.reference)(options):
            out[(r.backbone, r.output, r.form)] = r
    return tuple(out.values())


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
