"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

For class posteriors ``p(y|x) = softmax(logits)`` of the generated images::

    IS = exp( E_x [ KL( p(y|x) || p(y) ) ] ),   p(y) = E_x [ p(y|x) ]

computed on each of ``splits`` chunks of the (shuffled) rows; the result is the mean and the
standard deviation of the per-chunk scores.

Conventions:

* Rows are shuffled with ``numpy.random.default_rng(seed).permutation`` before splitting
  (torchmetrics shuffles too, with ``torch.randperm``); ``seed=None`` keeps the given order.
* Chunk ``i`` holds rows ``[i*N//splits, (i+1)*N//splits)`` as in the original code and
  torch-fidelity. torchmetrics' ``torch.chunk`` agrees whenever ``splits`` divides ``N``.
* The spread is the population std (``ddof=0``, as the original code and torch-fidelity);
  torchmetrics reports the sample std (``ddof=1``): pass ``ddof=1`` to match it.
* float64 with log-softmax, and ``log p(y)`` as a log-mean-exp, so tiny probabilities neither
  underflow to ``log 0`` nor lose precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.errors import UserError

__all__ = ["inception_score"]


def inception_score(
    logits: Any, splits: int = 10, seed: int | None = 0, ddof: int = 0
) -> tuple[float, float]:
    """Inception Score ``(mean, std)`` of ``logits`` (N x C) over ``splits`` chunks."""
    from scipy.special import logsumexp  # lazily: scipy.special is slow to import

    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise UserError(f"logits must be a 2-D array (images x classes), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise UserError("logits contain NaN or infinite values")
    n = z.shape[0]
    if splits < 1 or n < splits:
        raise UserError(
            f"Inception Score needs at least as many images as splits: {n} images, "
            f"{splits} splits (lower is_splits or add images)"
        )
    if seed is not None:
        z = z[np.random.default_rng(seed).permutation(n)]
    log_p = z - logsumexp(z, axis=1, keepdims=True)
    scores = np.empty(splits, dtype=np.float64)
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_py = logsumexp(part, axis=0) - np.log(part.shape[0])
        kl = (np.exp(part) * (part - log_py)).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    std = float(scores.std(ddof=ddof)) if splits > ddof else 0.0
    return float(scores.mean()), std
