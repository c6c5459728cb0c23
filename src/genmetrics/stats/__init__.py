"""Statistics: bootstrap CIs, the HPS v2 chunk protocol, paired variant-vs-baseline tests."""

from genmetrics.stats.bootstrap import MeanStdCI, bootstrap_ci, mean_std_ci
from genmetrics.stats.chunks import ChunkedMeanStd, chunked_mean_std
from genmetrics.stats.paired import PairedDifference, paired_difference

__all__ = [
    "ChunkedMeanStd",
    "MeanStdCI",
    "PairedDifference",
    "bootstrap_ci",
    "chunked_mean_std",
    "mean_std_ci",
    "paired_difference",
]
