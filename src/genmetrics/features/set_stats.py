"""Gaussian statistics of whole image sets, kept in the feature cache.

A warm FID run would otherwise re-fold every cached row into a D x D scatter matrix (for
Inception pool3 at 1000 images: 8.6 GFLOP per set, more than the rest of a warm run). The
folded state of a set (count, mean and centred scatter, float64, exactly as
:class:`~genmetrics.features.gaussian.GaussianStats` holds it) is stored once, keyed by the
backbone's cache key, the output, and the ordered content hashes of the rows it was folded
from. A later pass over the same files in the same order reads the state back bit for bit and
needs neither the rows nor the fold.

Rows are folded in fixed blocks of :data:`FOLD_BLOCK` (:class:`RowFolder`), whatever the
batch size or chunking of the pass, so the state is a function of the ordered rows alone and
the key needs nothing else.

The state is stored as rows of the ``features`` table under the backbone key ``<cache
key>|gaussian-state`` (``n``, ``mean``, and one row per scatter row; checksummed like every
row; ``cache info`` lists them, ``cache clear`` removes them). Its size is 8·D² bytes (32 MiB for 2048 dims), so only sets of at
least :data:`MIN_ROWS` images are stored, where reading it back is cheaper than the fold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.features.gaussian import GaussianStats

__all__ = ["FOLD_BLOCK", "MIN_ROWS", "STATE_SUFFIX", "RowFolder", "load_state",
           "set_key", "store_state"]

FOLD_BLOCK = 128
"""Rows per fold (one ``GaussianStats.update`` call): fixed, so the statistics do not depend on
how the pass was chunked."""
MIN_ROWS = 256
"""Sets smaller than this are folded again on every run (cheaper than reading 8·D² bytes)."""
STATE_SUFFIX = "|gaussian-state"
_SCATTER = "scatter/{:05d}"
"""One stored output per scatter row: cells of the cache's WITHOUT ROWID table stay as small as
feature rows, since SQLite reads a whole overflowing cell each time a key search compares
against it (one 32 MiB cell made every look-up nearby cost ~40 ms)."""


def set_key(row_backbone: str, output: str, digests: Sequence[str]) -> str:
    """sha256 naming the statistics of ``output`` over rows ``digests`` (in order) of the
    backbone whose cache key is ``row_backbone``."""
    h = hashlib.sha256()
    for part in ("gm-set-stats-v2", row_backbone, output, str(FOLD_BLOCK), str(len(digests))):
        raw = part.encode()
        h.update(len(raw).to_bytes(8, "little") + raw)
    h.update("\n".join(digests).encode())
    return h.hexdigest()


def load_state(cache: FeatureCache, row_backbone: str, output: str,
               digests: Sequence[str]) -> GaussianStats | None:
    """The stored statistics of ``output`` over rows ``digests`` (with ``content_key`` set),
    or None when absent or inconsistent (a miss: the caller folds the rows). Count and mean
    are read now; the D x D scatter only when something needs it (a memoised Fréchet distance
    does not)."""
    key = set_key(row_backbone, output, digests)
    found = cache.get_many(row_backbone + STATE_SUFFIX, [key], ("n", "mean")).get(key)
    if found is None:
        return None
    n, mean = found["n"], found["mean"]
    if n.shape != (1,) or n.dtype != np.int64 or int(n[0]) != len(digests) or mean.dtype != np.float64:
        return None
    names = [_SCATTER.format(i) for i in range(mean.size)]

    def read() -> np.ndarray:
        reader = FeatureCache(cache.path, readonly=True) if cache.closed else cache
        try:
            got = reader.get_many(row_backbone + STATE_SUFFIX, [key], names).get(key)
        finally:
            if reader is not cache:
                reader.close()
        if got is None or any(got[name].dtype != np.float64 or got[name].size != len(names)
                              for name in names):
            raise UserError(
                f"the stored statistics of an image set in the feature cache {cache.path} "
                "disappeared or were damaged during this run (another process cleared or "
                "rewrote the cache?); run again"
            )
        return np.stack([got[name] for name in names])

    stats = GaussianStats.deferred(int(n[0]), mean, read)
    stats.content_key = key
    return stats


def store_state(cache: FeatureCache, row_backbone: str, output: str, digests: Sequence[str],
                stats: GaussianStats) -> None:
    """Keep ``stats`` (folded from rows ``digests`` of ``output``) and name them by those rows,
    for sets of :data:`MIN_ROWS` rows or more; a cache that cannot be written keeps nothing
    (the cache warns once)."""
    if (stats.n or 0) < MIN_ROWS:
        return
    key = set_key(row_backbone, output, digests)
    state = stats.state()
    rows = {"n": np.array([state["n"]], dtype=np.int64),
            "mean": np.ascontiguousarray(state["mean"], dtype=np.float64)}
    rows.update((_SCATTER.format(i), np.ascontiguousarray(row, dtype=np.float64))
                for i, row in enumerate(state["scatter"]))
    cache.put_many(row_backbone + STATE_SUFFIX, [(key, rows)])
    stats.content_key = key


class RowFolder:
    """Feeds rows to a :class:`GaussianStats` in blocks of :data:`FOLD_BLOCK` rows, in order;
    ``finish`` folds the remainder. Memory: one block of rows."""

    def __init__(self, stats: GaussianStats) -> None:
        self.stats = stats
        self._pending: list[np.ndarray] = []

    def add(self, rows: Sequence[np.ndarray]) -> None:
        self._pending.extend(rows)
        while len(self._pending) >= FOLD_BLOCK:
            self.stats.update(np.stack(self._pending[:FOLD_BLOCK]))
            del self._pending[:FOLD_BLOCK]

    def finish(self) -> GaussianStats:
        if self._pending:
            self.stats.update(np.stack(self._pending))
            self._pending = []
        return self.stats
