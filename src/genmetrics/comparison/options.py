"""Options of ``benchmark`` / ``compare`` that have no effect for the metrics asked are errors.

An option is checked only when it was given (``None`` = not given). The rules:

* ``--n-chunks``: chunks split the prompt scores of per-image metrics; set-level metrics
  (FID, KID, IS, precision…) have one value per style, so it needs a per-image metric;
* ``--seed``: seeds the bootstrap CIs of per-image metrics and of the paired similarity
  (``--similarity``) and the random subsets/splits of KID and IS (also under
  ``--vs-baseline``); FID, precision/recall/density/coverage and the zero-shot object
  metrics alone are deterministic;
* ``--reference``: needs a metric of ``--metrics`` that compares with a reference set;
* ``--allow-missing``: needs something that can be missing: a suite (prompt coverage), a
  metric that needs prompts (sidecar prompts), and for ``compare`` a paired per-image metric
  or ``--similarity`` (images matched across folders);
* ``--margin`` / ``--margins`` (``compare``): margins are used by the paired test of
  per-image metrics only; ``--margin`` also has no effect when ``--margins`` names every
  per-image metric.

Whether a metric is per-image is known before any work for the built-in metrics (or from a
``per_image`` attribute of its spec); for other metrics the same rules are checked again once
the images are scored, from the per-image columns actually produced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from genmetrics.errors import UserError
from genmetrics.metrics.options import default_options
from genmetrics.metrics.registry import get_metric

__all__ = ["check_unused_options", "static_per_image"]

_PER_IMAGE = frozenset(
    {"clip_score", "clip_directional", "clip_image_similarity", "aesthetic", "hps"}
    | {"pickscore", "imagereward", "hpsv3"}
)
_SET_LEVEL = frozenset(
    {"fid", "kid", "is", "precision", "recall", "density", "coverage"}
    | {"object_precision", "object_recall"}
)
_SEEDED_SET_LEVEL = frozenset({"kid", "is"})


def static_per_image(name: str) -> bool | None:
    """Whether ``name`` gives per-image scores, known before evaluation; None when unknown."""
    flag = getattr(get_metric(name), "per_image", None)
    if isinstance(flag, bool):
        return flag
    if name in _PER_IMAGE:
        return True
    if name in _SET_LEVEL:
        return False
    return None


def _uses_reference(name: str) -> bool:
    spec = get_metric(name)
    return spec.needs_reference or bool(spec.reference(default_options()))


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names)


def check_unused_options(
    command: str,
    metrics: Sequence[str],
    per_image: Callable[[str], bool | None] | Collection[str] = static_per_image,
    *,
    n_chunks: int | None = None,
    seed: int | None = None,
    reference: object = None,
    allow_missing: bool = False,
    suite: object = None,
    margin: float | None = None,
    margins: Collection[str] = (),
    similarity: bool = False,
    vs_baseline: Collection[str] = (),
) -> None:
    """Raise :class:`UserError` for the first given option that has no effect (see module doc).

    ``per_image`` tells which metrics give per-image scores: a function (None = unknown, the
    rule is then not applied) or the collection of per-image metric names after scoring.
    """
    if not metrics:  # compare with --similarity / --vs-baseline only
        _check_without_metrics(reference, n_chunks, margin, margins, seed, similarity, vs_baseline)
        return
    if reference is not None and not any(_uses_reference(m) for m in metrics):
        raise UserError(
            f"--reference does not apply: none of {_listing(metrics)} compares with a reference "
            "set (fid, kid, precision, recall, density, coverage do); drop --reference"
        )
    needs_prompts = any(get_metric(m).needs_prompts for m in metrics)
    if command == "benchmark" and allow_missing and suite is None and not needs_prompts:
        raise _allow_missing_error(command)
    if callable(per_image):
        kind = {m: per_image(m) for m in metrics}
    else:
        kind = {m: m in per_image for m in metrics}
    if any(k is None for k in kind.values()):
        return  # checked again after scoring, when every metric's kind is known
    per = [m for m in metrics if kind[m]]
    sets = [m for m in metrics if not kind[m]]
    if n_chunks is not None and not per:
        raise UserError(
            f"--n-chunks does not apply: set-level metrics ({_listing(sets)}) have one value per "
            "style, no prompt chunks; drop --n-chunks or add a per-image metric such as hps"
        )
    seeded = similarity or any(m in _SEEDED_SET_LEVEL for m in [*sets, *vs_baseline])
    if seed is not None and not per and not seeded:
        raise UserError(
            f"--seed does not apply: no random numbers are drawn for {_listing(sets)} "
            "(set-level metrics have no bootstrap); drop --seed"
        )
    named = [m for m in margins if m in sets]
    if named:
        raise UserError(
            f"--margins names set-level metrics ({_listing(named)}): margins apply to the "
            "paired test of per-image metrics only; drop them from --margins"
        )
    if margin is not None and not per:
        raise UserError(
            f"--margin does not apply: set-level metrics ({_listing(sets)}) have no paired "
            "test, only the difference of values; drop --margin"
        )
    if margin is not None and all(m in margins for m in per):
        raise UserError(
            "--margin does not apply: --margins gives every per-image metric its own margin; "
            "drop --margin"
        )
    if command == "compare" and allow_missing and suite is None:
        if not needs_prompts and not per and not similarity:
            raise _allow_missing_error(command)


def _check_without_metrics(
    reference: object, n_chunks: int | None, margin: float | None, margins: Collection[str],
    seed: int | None, similarity: bool, vs_baseline: Collection[str],
) -> None:
    """``compare`` without ``--metrics``: options of the evaluated metrics do not apply."""
    why = "no --metrics given (only paired similarity or distances to the baseline)"
    for given, flag in ((reference is not None, "--reference"), (n_chunks is not None, "--n-chunks"),
                        (margin is not None, "--margin"), (bool(margins), "--margins")):
        if given:
            raise UserError(f"{flag} does not apply: {why}; drop {flag} or add --metrics")
    if seed is not None and not similarity and not any(m in _SEEDED_SET_LEVEL for m in vs_baseline):
        raise UserError(
            f"--seed does not apply: no random numbers are drawn for {_listing(list(vs_baseline))} "
            "(set-level metrics have no bootstrap); drop --seed"
        )


def _allow_missing_error(command: str) -> UserError:
    paired = " and no paired comparison" if command == "compare" else ""
    return UserError(
        "--allow-missing does not apply: without a suite, with no metric that needs prompts"
        f"{paired}, no image or prompt can be missing; drop --allow-missing"
    )
