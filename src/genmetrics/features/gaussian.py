"""Mergeable streaming Gaussian statistics (mean and covariance) of feature vectors, for FID.

The state is the count ``n``, the running mean ``mu`` (D,) and the centred scatter matrix
``M = sum_i (x_i - mu)(x_i - mu)^T`` (D x D), all float64. Each batch contributes its own mean
and centred scatter, and two states combine with the parallel update of Chan, Golub & LeVeque
(1979)::

    n = n_a + n_b,   delta = mu_b - mu_a,   mu = mu_a + delta * n_b / n,
    M = M_a + M_b + delta delta^T * n_a * n_b / n

This avoids the cancellation of the textbook ``sum(x x^T) - n mu mu^T`` form when features
have a large mean, and merging shards gives the same result as one pass over all rows (up to
float64 rounding). Memory is O(D^2), independent of the number of rows.

The covariance is unbiased (``M / (n - 1)``), as ``np.cov`` and pytorch-fid compute it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from genmetrics.errors import UserError

__all__ = ["GaussianStats"]

T = TypeVar("T")


class GaussianStats:
    """Running count, mean and centred scatter of D-dimensional feature rows (float64)."""

    def __init__(self, dim: int | None = None) -> None:
        self._n = 0
        self._dim = dim
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None
        # Set only by from_mu_sigma without a count: a fixed covariance that cannot be merged.
        self._fixed_sigma: np.ndarray | None = None
        # Quantities derived from the statistics (see derived()); dropped when rows are added.
        self._derived: dict[str, Any] = {}
        # Set only by deferred(): reads the scatter matrix when first needed.
        self._loader: Callable[[], np.ndarray] | None = None
        self.content_key: str | None = None
        """Names the exact rows these statistics were folded from, in order (set by the
        feature pass, see :mod:`genmetrics.features.set_stats`), so numbers derived from
        them can be memoised without hashing the D x D matrix; dropped when rows are added."""

    # -- accumulation -------------------------------------------------------------------

    def update(self, batch: Any) -> GaussianStats:
        """Add the rows of ``batch`` (N x D, or a single D vector); returns ``self``."""
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise UserError(f"features must be a 2-D array (rows x dims), got shape {x.shape}")
        if x.shape[0] == 0:
            return self
        if not np.isfinite(x).all():
            raise UserError("features contain NaN or infinite values; check the feature extractor")
        mean = x.mean(axis=0)
        centred = x - mean
        scatter = centred.T @ centred
        self._combine(x.shape[0], mean, scatter)
        return self

    def merge(self, other: GaussianStats) -> GaussianStats:
        """Fold ``other`` (e.g. another shard) into this state in place; returns ``self``."""
        if other._fixed_sigma is not None:
            raise UserError("cannot merge statistics loaded without a sample count 'n'")
        if other._n == 0:
            return self
        other._materialize()
        self._combine(other._n, other._mean, other._scatter)  # type: ignore[arg-type]
        return self

    def _combine(self, n_b: int, mean_b: np.ndarray, scatter_b: np.ndarray) -> None:
        self._materialize()
        self._check_dim(mean_b.shape[0])
        self._derived = {}
        self.content_key = None
        if self._fixed_sigma is not None:
            raise UserError("cannot add rows to statistics loaded without a sample count 'n'")
        if self._n == 0:
            self._n = int(n_b)
            self._mean = np.array(mean_b, dtype=np.float64)
            self._scatter = np.array(scatter_b, dtype=np.float64)
            return
        n_a = self._n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._scatter += scatter_b
        self._scatter += np.outer(delta * (n_a * n_b / n), delta)
        self._n = n

    def _check_dim(self, dim: int) -> None:
        if self._dim is None:
            self._dim = int(dim)
        elif dim != self._dim:
            raise UserError(
                f"feature dimension mismatch: these statistics have {self._dim} dims, got {dim}"
            )

    # -- results ------------------------------------------------------------------------

    @property
    def n(self) -> int | None:
        """Number of rows seen; ``None`` for statistics loaded without a count."""
        if self._fixed_sigma is not None and self._n == 0:
            return None
        return self._n

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def mean(self) -> np.ndarray:
        """Mean vector ``mu`` (D,), float64."""
        if self._mean is None:
            raise UserError("no features were accumulated: the statistics are empty")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance ``M / (n - 1)`` (D x D), float64, exactly symmetric."""
        if self._fixed_sigma is not None:
            return self._fixed_sigma.copy()
        self._materialize()
        if self._n < 2 or self._scatter is None:
            raise UserError(
                f"a covariance needs at least 2 feature rows, got {self._n}; add more images"
            )
        cov = self._scatter / (self._n - 1)
        return (cov + cov.T) * 0.5

    def to_arrays(self) -> dict[str, Any]:
        """``{"mu", "sigma", "n"}`` for writing a pytorch-fid compatible ``.npz``."""
        return {"mu": self.mean, "sigma": self.cov, "n": self.n}

    @classmethod
    def from_mu_sigma(cls, mu: Any, sigma: Any, n: int | None = None) -> GaussianStats:
        """Statistics from a stored mean and (unbiased) covariance, e.g. a pytorch-fid ``.npz``.

        With the count ``n`` (> 1) the result can be merged further; without it the
        covariance is kept as given and the statistics are read-only.
        """
        mu = np.asarray(mu, dtype=np.float64).reshape(-1)
        sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
        d = mu.shape[0]
        if sigma.shape != (d, d):
            raise UserError(
                f"statistics mismatch: mu has {d} dims but sigma has shape {sigma.shape}"
            )
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise UserError("statistics contain NaN or infinite values")
        stats = cls(dim=d)
        stats._mean = mu.copy()
        sigma = (sigma + sigma.T) * 0.5
        if n is not None and int(n) > 1:
            stats._n = int(n)
            stats._scatter = sigma * (int(n) - 1)
        else:
            stats._fixed_sigma = sigma
        return stats

    def state(self) -> dict[str, Any]:
        """The exact accumulator (``n``, ``dim``, ``mean``, ``scatter``) for checkpoints;
        :meth:`from_state` rebuilds it bit for bit (``mu``/``sigma`` would round)."""
        if self._fixed_sigma is not None:
            raise UserError("statistics loaded without a sample count 'n' have no accumulator state")
        self._materialize()
        return {"n": self._n, "dim": self._dim, "mean": self._mean, "scatter": self._scatter}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GaussianStats:
        """Inverse of :meth:`state` (arrays as float64 numpy arrays or anything array-like)."""
        stats = cls(dim=None if state.get("dim") is None else int(state["dim"]))
        if int(state.get("n") or 0) > 0:
            stats._n = int(state["n"])
            stats._mean = np.array(state["mean"], dtype=np.float64)
            stats._scatter = np.array(state["scatter"], dtype=np.float64)
        return stats

    @classmethod
    def deferred(cls, n: int, mean: Any, scatter: Callable[[], np.ndarray]) -> GaussianStats:
        """Statistics of ``n`` rows with mean ``mean``, whose D x D scatter ``scatter()``
        returns when first needed (stored statistics, when a memoised number may make the
        matrix unnecessary)."""
        stats = cls()
        stats._mean = np.array(mean, dtype=np.float64).reshape(-1)
        stats._check_dim(stats._mean.shape[0])
        stats._n = int(n)
        stats._loader = scatter
        return stats

    def _materialize(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            d = self._dim or 0
            self._scatter = np.array(loader(), dtype=np.float64).reshape(d, d)

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for these statistics (e.g. a square-root factor of
        the covariance, reused when one reference meets many subsets); adding rows drops it,
        and it is never pickled (shards and checkpoints carry only the accumulator)."""
        store = self.__dict__.setdefault("_derived", {})
        if key not in store:
            store[key] = compute()
        return store[key]

    def __getstate__(self) -> dict[str, Any]:
        self._materialize()
        return {**self.__dict__, "_derived": {}}

    def __repr__(self) -> str:
        return f"GaussianStats(n={self.n}, dim={self._dim})"
