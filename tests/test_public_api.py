"""The public Python API is discoverable and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_dir_lists_the_api_and_names_resolve():
    import genmetrics

    names = dir(genmetrics)
    for name in ("evaluate", "Evaluator", "EvaluationResult", "MetricValue", "UserError", "__version__"):
        assert name in names and name in genmetrics.__all__
    from genmetrics.pipeline.evaluator import Evaluator
    from genmetrics.results.result import EvaluationResult

    assert genmetrics.Evaluator is Evaluator and genmetrics.EvaluationResult is EvaluationResult
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        genmetrics.nope  # noqa: B018


def test_import_genmetrics_does_not_import_torch():
    code = "import sys, genmetrics; dir(genmetrics); print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
