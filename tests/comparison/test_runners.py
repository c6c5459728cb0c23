import pytest

from genmetrics.comparison import AVERAGE, run_benchmark, run_compare
from genmetrics.comparison.compare import default_names, parse_margins
from genmetrics.errors import UserError
from tests.comparison.helpers import fake_metrics, write_const  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_metrics")


def test_without_suite_styles_come_from_folders(tmp_path):
    for style, base in (("b", 10), ("a", 50)):
        for i in range(4):
            write_const(tmp_path / "x" / style / f"{i:05d}.png", base + i)
    report = run_benchmark(tmp_path / "x", "brightness", suite=None, n_chunks=2, cache=False)
    table = report.tables["brightness"]
    assert table.styles == ["a", "b"]  # first appearance in the sorted listing
    assert table.cell("b").mean == pytest.approx(11.5)
    assert table.cell("b").std == pytest.approx(1.0)  # chunks [10, 11] and [12, 13]
    assert table.cell(AVERAGE).mean == pytest.approx(31.5)
    cmp = run_compare(
        tmp_path / "x",
        [tmp_path / "x"],
        "brightness",
        suite=None,
        n_chunks=2,
        names=["one", "two"],
        margin=0.1,
        cache=False,
    )
    assert cmp.paired["brightness"]["two"].overall.verdict == "equivalent"


def test_option_parsing():
    assert parse_margins("hps=0.1, clip-score=2", ["hps", "clip_score"]) == {
        "hps": 0.1,
        "clip_score": 2.0,
    }
    for bad in ("hps", "hps=x", "hps=-1"):
        with pytest.raises(UserError):
            parse_margins(bad, ["hps"])
    assert default_names(["/a/run", "/b/run", "/c/other/"]) == ["run#1", "run#2", "other"]
