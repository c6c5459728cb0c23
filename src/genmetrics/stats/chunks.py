"""Chunked mean and std: the HPS v2 benchmark protocol (Wu et al. 2023, arXiv:2306.09341).

The HPS v2 benchmark scores 800 images per style, splits them in order into 10 chunks of 80,
and reports the mean of the 10 chunk means with the population std (ddof=0) of those means.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genmetrics.errors import UserError

__all__ = ["ChunkedMeanStd", "chunked_mean_std"]


class ChunkedMeanStd(NamedTuple):
    """Mean of the chunk means and population std (ddof=0) of the chunk means."""

    mean: float
    std: float


def chunked_mean_std(scores: object, n_chunks: int = 10) -> ChunkedMeanStd:
    """Split ``scores`` (in order) into ``n_chunks`` consecutive chunks and summarise them.

    ``mean = mean_k(m_k)`` and ``std = sqrt(mean_k((m_k - mean)^2))`` where ``m_k`` is the
    mean of chunk ``k``. When ``len(scores)`` is not a multiple of ``n_chunks`` the split
    follows ``numpy.array_split``: the first ``len % n_chunks`` chunks get one extra score,
    and every chunk mean still counts equally (so ``mean`` can differ slightly from the plain
    mean of all scores). Fewer scores than chunks raise :class:`UserError`.
    """
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_chunks = int(n_chunks)
    if n_chunks < 1:
        raise UserError(f"n_chunks must be >= 1, got {n_chunks}")
    if arr.size < n_chunks:
        raise UserError(
            f"need at least {n_chunks} scores to split into {n_chunks} chunks, got {arr.size}"
        )
    if not np.isfinite(arr).all():
        raise UserError("scores contain NaN or infinite values; drop or fix them first")
    chunk_means = np.array([chunk.mean() for chunk in np.array_split(arr, n_chunks)])
    return ChunkedMeanStd(mean=float(chunk_means.mean()), std=float(chunk_means.std(ddof=0)))
