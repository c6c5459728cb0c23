"""EvaluationResult.to_dict(prefix=…): flat floats for any tracker."""

from __future__ import annotations

import math

from genmetrics.metrics.registry import MetricValue
from genmetrics.results.result import EvaluationResult


def test_prefix_gives_flat_floats_with_std_ci_and_groups():
    metrics = {"fid": MetricValue(12.5), "hps": MetricValue(0.27, std=0.01, ci=(0.26, 0.28)),
               "kid": MetricValue(float("nan"), std=0.0)}
    result = EvaluationResult(metrics, {}, {}, groups={"anime": {"fid": MetricValue(20.0)}})
    flat = result.to_dict(prefix="val/")
    assert flat == {
        "val/fid": 12.5, "val/hps": 0.27, "val/hps_std": 0.01, "val/hps_ci_low": 0.26,
        "val/hps_ci_high": 0.28, "val/kid": flat["val/kid"], "val/kid_std": 0.0, "val/anime/fid": 20.0,
    }
    assert math.isnan(flat["val/kid"]) and all(type(v) is float for v in flat.values())
    assert set(result.to_dict(prefix="")) == {k[4:] for k in flat}
    assert "metrics" in result.to_dict()  # without a prefix: the JSON document, unchanged
