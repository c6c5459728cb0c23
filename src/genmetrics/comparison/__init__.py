"""Per-style benchmark tables, variant-vs-baseline comparison and paired image similarity.

Pure functions on score rows (``style_table``, ``paired_comparison``, ``pair_similarity``) and
the runners behind ``genmetrics benchmark`` / ``compare`` / ``pair`` (``run_benchmark``,
``run_compare``).
"""

from genmetrics.comparison.benchmark import BenchmarkReport, run_benchmark
from genmetrics.comparison.compare import CompareReport, run_compare
from genmetrics.comparison.paired import PairedComparison, match_rows, paired_comparison
from genmetrics.comparison.scores import PromptScores, prompt_scores, row_key, row_style
from genmetrics.comparison.similarity import PairSimilarity, pair_similarity, summarize
from genmetrics.comparison.tables import AVERAGE, Cell, StyleTable, style_table

__all__ = [
    "AVERAGE",
    "BenchmarkReport",
    "Cell",
    "CompareReport",
    "PairSimilarity",
    "PairedComparison",
    "PromptScores",
    "StyleTable",
    "match_rows",
    "pair_similarity",
    "paired_comparison",
    "prompt_scores",
    "row_key",
    "row_style",
    "run_benchmark",
    "run_compare",
    "style_table",
    "summarize",
]
