import math
import random

import numpy as np
import pytest

from genmetrics.comparison import AVERAGE, prompt_scores, style_table
from genmetrics.comparison.tables import set_level_table
from genmetrics.errors import UserError
from genmetrics.metrics.registry import MetricValue


def _hand_chunks(values: list[float], n_chunks: int) -> tuple[float, float]:
    size = len(values) // n_chunks
    means = [sum(values[k * size : (k + 1) * size]) / size for k in range(n_chunks)]
    m = sum(means) / n_chunks
    return m, math.sqrt(sum((x - m) ** 2 for x in means) / n_chunks)


def _rows(styles=("b", "a"), n=20, samples=1, seed=0):
    rng = random.Random(seed)
    rows, expected = [], {}
    for s in styles:
        expected[s] = []
        for i in range(n):
            vals = [rng.uniform(0, 10) for _ in range(samples)]
            expected[s].append(sum(vals) / samples)
            for k, v in enumerate(vals):
                rid = f"{s}/{i:05d}" + (f"_k{k}" if k else "")
                rows.append({"id": rid, "style": s, "prompt_id": f"{s}/{i:05d}", "score": v})
    rng.shuffle(rows)  # listing order must not matter
    return rows, expected


def test_chunk_protocol_matches_hand_computation():
    rows, expected = _rows(samples=3)
    order = [f"{s}/{i:05d}" for s in ("b", "a") for i in range(20)]
    table = style_table(rows, "score", ["b", "a"], n_chunks=10, order=order)
    assert [c.style for c in table.cells] == ["b", "a", AVERAGE]
    for s in ("b", "a"):
        mean, std = _hand_chunks(expected[s], 10)
        cell = table.cell(s)
        assert cell.mean == pytest.approx(mean, abs=1e-12)
        assert cell.std == pytest.approx(std, abs=1e-12)
        assert cell.n_prompts == 20 and cell.n_images == 60
        assert cell.ci_low < cell.mean < cell.ci_high
    avg = table.cell(AVERAGE)
    assert avg.mean == pytest.approx(np.mean(expected["a"] + expected["b"]), abs=1e-12)
    assert avg.std is None and avg.n_prompts == 40 and avg.n_images == 120


def test_prompt_order_follows_the_suite_not_the_ids():
    rows = [
        {"id": f"s/{i:05d}", "style": "s", "prompt_id": f"s/{i:05d}", "x": float(i)}
        for i in range(4)
    ]
    order = ["s/00003", "s/00001", "s/00000", "s/00002"]
    got = prompt_scores(rows, "x", ["s"], order)["s"]
    assert got.prompt_ids == tuple(order) and got.scores.tolist() == [3.0, 1.0, 0.0, 2.0]
    # chunk std depends on the order: [3,1 | 0,2] -> means 2, 1
    t = style_table(rows, "x", ["s"], n_chunks=2, order=order)
    assert t.cell("s").std == pytest.approx(0.5)


def test_empty_style_and_too_few_prompts():
    rows, _ = _rows(styles=("a",), n=12)
    t = style_table(rows, "score", ["a", "z"], n_chunks=4)
    assert math.isnan(t.cell("z").mean) and t.cell("z").n_images == 0
    with pytest.raises(UserError, match="n-chunks"):
        style_table(rows, "score", ["a"], n_chunks=13)
    with pytest.raises(UserError, match="per-image"):
        style_table(rows, "other", ["a"])


def test_set_level_table_uses_the_metric_values():
    t = set_level_table(
        "is", {"a": (MetricValue(3.0, 0.1), 10), "b": (None, 0)}, MetricValue(2.5, 0.2), 10, 10
    )
    assert t.cell("a").mean == 3.0 and t.cell("a").std == 0.1 and t.cell("a").method == "set"
    assert math.isnan(t.cell("b").mean)
    # a style without a value: the mean of the style values does not exist
    assert math.isnan(t.cell(AVERAGE).mean) and t.cell(AVERAGE).method == "styles-mean"
    assert t.all_images.mean == 2.5 and t.all_images.std == 0.2


def test_set_level_average_is_the_mean_of_the_style_values():
    per_style = {"a": (MetricValue(30.0), 8), "b": (MetricValue(10.0, 1.0), 4)}
    t = set_level_table("fid", per_style, MetricValue(17.0), 12, 10)
    avg = t.cell(AVERAGE)
    assert avg.mean == 20.0 and avg.std is None and avg.ci_low is None  # not the pooled 17.0
    assert (avg.n_images, avg.method) == (12, "styles-mean")
    assert t.all_images.mean == 17.0 and t.all_images.n_images == 12
    assert [c.style for c in t.cells] == ["a", "b", AVERAGE]
