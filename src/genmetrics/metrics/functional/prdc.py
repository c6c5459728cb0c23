"""k-NN manifold metrics on features: improved precision and recall (Kynkäänniemi et al. 2019,
"Improved Precision and Recall Metric for Assessing Generative Models", k=3) and density and
coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models",
k=5).

With real rows ``r_i`` (N), fake rows ``f_j`` (M), Euclidean distance ``d`` and ``NND_k(x)`` the
distance from a sample to its k-th nearest *other* sample of its own set (the sample itself is
excluded by index; exact duplicates still count as neighbours)::

    precision = 1/M sum_j 1[ exists i: d(f_j, r_i) <= NND_k(r_i) ]
    recall    = 1/N sum_i 1[ exists j: d(r_i, f_j) <= NND_k(f_j) ]
    density   = 1/(k M) sum_j sum_i 1[ d(f_j, r_i) < NND_k(r_i) ]
    coverage  = 1/N sum_i 1[ min_j d(r_i, f_j) < NND_k(r_i) ]

The comparisons follow each paper's reference code (``<=`` for precision/recall, strict ``<``
for density/coverage); they differ only on exact ties. Distances are computed in float64 as
``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))`` one block of ``chunk_size`` rows at a time, so memory is
O(chunk_size * max(N, M)) rather than O(N * M). Three passes (real-real for the real radii,
fake-fake for the fake radii, fake-real for the tests) serve all four metrics at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = [
    "ManifoldRatios",
    "PRDCResult",
    "density_coverage",
    "manifold_ratios",
    "precision_recall",
    "prdc",
]


@dataclass(frozen=True)
class PRDCResult:
    """The four scalars plus per-sample arrays (for per-image tables).

    Per fake sample (M,): ``fake_in_real_manifold`` (inside some real k_pr-ball: the precision
    indicator), ``fake_real_ball_count`` (number of real k_dc-balls containing it: the density
    numerator), ``fake_nearest_real_distance``, ``fake_manifold_ratio`` (``min_i d(f_j, r_i) /
    NND_k_pr(r_i)``: at most 1 inside the real manifold). Per real sample (N,):
    ``real_in_fake_manifold`` (the recall indicator), ``real_covered`` (the coverage indicator)
    and ``real_nearest_ratio`` (``min_j d(r_i, f_j) / NND_k_dc(r_i)``: below 1 when covered).
    Metrics that were not requested are NaN and their arrays empty. ``result["precision"]``
    works like a dict.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int | None
    k_dc: int | None
    fake_in_real_manifold: np.ndarray
    fake_real_ball_count: np.ndarray
    fake_nearest_real_distance: np.ndarray
    real_in_fake_manifold: np.ndarray
    real_covered: np.ndarray
    fake_manifold_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    real_nearest_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def as_dict(self) -> dict[str, float]:
        """The four scalar metrics."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "density": self.density,
            "coverage": self.coverage,
        }


def _features(x: Any, which: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise UserError(f"{which} features must be a 2-D array (rows x dims), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise UserError(f"{which} features contain NaN or infinite values")
    return arr


def _distance_blocks(
    a: np.ndarray, b: np.ndarray, chunk_size: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, D)`` with ``D[i, j] = ||a[start + i] - b[j]||`` (float64)."""
    sq_a = np.einsum("ij,ij->i", a, a)
    sq_b = np.einsum("ij,ij->i", b, b)
    for start in range(0, a.shape[0], chunk_size):
        stop = min(start + chunk_size, a.shape[0])
        d = a[start:stop] @ b.T
        d *= -2.0
        d += sq_a[start:stop, None]
        d += sq_b[None, :]
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
        yield start, stop, d


def _knn_radii(x: np.ndarray, ks: list[int], chunk_size: int, which: str) -> np.ndarray:
    """``(len(ks), N)`` distances to the k-th nearest other row of ``x``, for each k."""
    n = x.shape[0]
    if max(ks) > n - 1:
        raise UserError(
            f"k={max(ks)} nearest neighbours need at least {max(ks) + 1} {which} samples, got {n}"
        )
    radii = np.empty((len(ks), n), dtype=np.float64)
    kth = [k - 1 for k in ks]
    for start, stop, d in _distance_blocks(x, x, chunk_size):
        rows = np.arange(stop - start)
        d[rows, start + rows] = np.inf  # exclude the sample itself
        part = np.partition(d, kth, axis=1)
        radii[:, start:stop] = part[:, kth].T
    return radii


def _compute(
    real: Any, fake: Any, k_pr: int | None, k_dc: int | None, chunk_size: int,
    recall: bool = True,
) -> PRDCResult:
    r = _features(real, "real")
    f = _features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise UserError(
            f"feature dimension mismatch: real {r.shape[1]} vs fake {f.shape[1]}; both sets "
            "must use the same backbone output"
        )
    if chunk_size < 1:
        raise UserError(f"chunk_size must be at least 1, got {chunk_size}")
    for name, k in (("k_pr", k_pr), ("k_dc", k_dc)):
        if k is not None and k < 1:
            raise UserError(f"{name} must be a positive number of neighbours, got {k}")
    n, m = r.shape[0], f.shape[0]
    if m < 1:
        raise UserError("no fake samples: the generated feature set is empty")

    ks = [k for k in (k_pr, k_dc) if k is not None]
    real_radii = _knn_radii(r, ks, chunk_size, "real")
    r_pr = real_radii[0] if k_pr is not None else None
    r_dc = real_radii[-1] if k_dc is not None else None
    f_pr = _knn_radii(f, [k_pr], chunk_size, "fake")[0] if k_pr is not None and recall else None

    in_real = np.zeros(m, dtype=bool)
    ball_count = np.zeros(m, dtype=np.int64)
    nearest_real = np.empty(m, dtype=np.float64)
    fake_ratio = np.empty(m if k_pr is not None else 0, dtype=np.float64)
    real_in_fake = np.zeros(n, dtype=bool)
    real_min_fake = np.full(n, np.inf)
    for start, stop, d in _distance_blocks(f, r, chunk_size):
        nearest_real[start:stop] = d.min(axis=1)
        if r_pr is not None:
            in_real[start:stop] = (d <= r_pr[None, :]).any(axis=1)
            fake_ratio[start:stop] = _ratio(d, r_pr[None, :]).min(axis=1)
        if f_pr is not None:
            real_in_fake |= (d <= f_pr[start:stop, None]).any(axis=0)
        if r_dc is not None:
            ball_count[start:stop] = (d < r_dc[None, :]).sum(axis=1)
            np.minimum(real_min_fake, d.min(axis=0), out=real_min_fake)

    nan = float("nan")
    empty = np.zeros(0, dtype=bool)
    if k_dc is not None:
        covered = real_min_fake < r_dc
        density = float(ball_count.sum() / (k_dc * m))
        coverage = float(covered.mean())
    else:
        covered, density, coverage = empty, nan, nan
    return PRDCResult(
        precision=float(in_real.mean()) if k_pr is not None else nan,
        recall=float(real_in_fake.mean()) if f_pr is not None else nan,
        density=density,
        coverage=coverage,
        k_pr=k_pr,
        k_dc=k_dc,
        fake_in_real_manifold=in_real if k_pr is not None else empty,
        fake_real_ball_count=ball_count if k_dc is not None else np.zeros(0, dtype=np.int64),
        fake_nearest_real_distance=nearest_real,
        real_in_fake_manifold=real_in_fake if f_pr is not None else empty,
        real_covered=covered,
        fake_manifold_ratio=fake_ratio,
        real_nearest_ratio=_ratio(real_min_fake, r_dc) if r_dc is not None else np.zeros(0),
    )


def prdc(
    real: Any, fake: Any, k_pr: int | None = 3, k_dc: int | None = 5, chunk_size: int = 1024
) -> PRDCResult:
    """Precision, recall (k = ``k_pr``), density and coverage (k = ``k_dc``) in one pass;
    ``None`` skips a pair (its values are then NaN)."""
    return _compute(real, fake, k_pr, k_dc, chunk_size)


def precision_recall(
    real: Any, fake: Any, k: int = 3, chunk_size: int = 1024
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019)."""
    res = _compute(real, fake, k, None, chunk_size)
    return res.precision, res.recall


def density_coverage(
    real: Any, fake: Any, k: int = 5, chunk_size: int = 1024
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020); needs no fake-fake distances."""
    res = _compute(real, fake, None, k, chunk_size)
    return res.density, res.coverage


@dataclass(frozen=True)
class ManifoldRatios:
    """How far each sample lies from the other set's k-NN manifold (see :func:`manifold_ratios`)."""

    fake_ratio: np.ndarray
    """(M,) ``min_i d(f_j, r_i) / NND_k_pr(r_i)``: at most 1 inside the real manifold (the
    precision indicator); larger is farther from every real sample's ball."""
    real_ratio: np.ndarray
    """(N,) ``min_j d(r_i, f_j) / NND_k_dc(r_i)``: below 1 when some fake sample covers the real
    one (the coverage indicator); larger is farther from every fake sample."""


def _ratio(d: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """``d / radius`` with a zero radius (duplicate samples) giving 0 at distance 0, else inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d / radius
    out[(radius == 0) & (d == 0)] = 0.0
    return out


def manifold_ratios(
    real: Any, fake: Any, k_pr: int = 3, k_dc: int = 5, chunk_size: int = 1024
) -> ManifoldRatios:
    """Per-sample distances to the other set's k-NN balls, in units of the ball radius, for
    reports that show the generated images farthest from the real manifold and the real images
    no generated image covers (the per-sample side of Kynkäänniemi et al. 2019 precision and
    Naeem et al. 2020 coverage)::

        fake_ratio_j = min_i d(f_j, r_i) / NND_k_pr(r_i)   # precision: fake_ratio_j <= 1
        real_ratio_i = min_j d(r_i, f_j) / NND_k_dc(r_i)   # coverage:  real_ratio_i < 1

    Float64, one ``chunk_size`` block of fake rows at a time (memory O(chunk_size * N)); the
    same pass as :func:`prdc`, which returns these arrays too."""
    res = _compute(real, fake, k_pr, k_dc, chunk_size, recall=False)
    return ManifoldRatios(res.fake_manifold_ratio, res.real_nearest_ratio)
