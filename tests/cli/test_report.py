"""``genmetrics report`` and ``--format html`` / csv on evaluate, benchmark and pair."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from genmetrics.cli.app import main
from tests.comparison.helpers import fake_metrics, value_of, write_const, write_suite  # noqa: F401
from tests.results.render.parse import check_self_contained

pytestmark = pytest.mark.usefixtures("fake_metrics")


def _run(capsys, *args):
    code = main([*map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def bench(tmp_path):
    suite = write_suite(tmp_path / "mini.json", {"sky": 6, "sea": 6})
    for si, style in enumerate(("sky", "sea")):
        for i in range(6):
            write_const(tmp_path / "imgs" / style / f"{i:05d}.png", value_of(si, i))
    return tmp_path / "imgs", suite


def test_errors_are_one_line(tmp_path, capsys):
    code, _, err = _run(capsys, "report", tmp_path / "nope", "--out", tmp_path / "r.html")
    assert code == 2 and "is not a folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "report", tmp_path / "empty", "--out", tmp_path / "r.html")
    assert code == 2 and "no compare.json, benchmark.json or summary.json" in err
    code, _, err = _run(capsys, "report", tmp_path / "empty", "--out", tmp_path / "r.pdf")
    assert code == 2 and ".html" in err


def test_benchmark_and_evaluate_html(bench, tmp_path, capsys):
    imgs, suite = bench
    args = ["benchmark", imgs, "--suite", suite, "--metrics", "brightness", "--n-chunks", "2"]
    code, out, err = _run(capsys, *args, "--format", "html")
    assert code == 0, err
    page = check_self_contained(out)
    assert page.n_images > 0 and "benchmark of" in page.all_text
    code, out, err = _run(capsys, *args, "--format", "html", "--out", tmp_path / "b")
    assert code == 0 and out.startswith("wrote ") and "report.html" in out
    assert json.loads((tmp_path / "b" / "benchmark.json").read_text())["manifest"]["command"][:2] == [
        "genmetrics",
        "benchmark",
    ]
    code, out, err = _run(
        capsys, "evaluate", imgs, "--metrics", "brightness", "--no-cache", "--format", "csv",
        "--out", tmp_path / "e",
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert float(rows[0]["value"]) == summary["metrics"]["brightness"]["value"]
    assert (tmp_path / "e" / "report.html").is_file()
    out_html = tmp_path / "all.html"
    code, out, err = _run(
        capsys, "report", tmp_path / "b", tmp_path / "e", "--out", out_html, "--title", "<b>both</b>"
    )
    assert code == 0, err
    page = check_self_contained(out_html.read_text(encoding="utf-8"))
    assert "<b>both</b>" in page.all_text and "genmetrics evaluation" in page.all_text


def test_pair_formats(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(np.clip(a.astype(int) + 9, 0, 255).astype(np.uint8)).save(tmp_path / "b.png")
    pair = ["pair", tmp_path / "a.png", tmp_path / "b.png", "--metrics", "psnr,ssim"]
    code, out, _ = _run(capsys, *pair, "--format", "json")
    data = json.loads(out)
    code, out, _ = _run(capsys, *pair, "--format", "csv")
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(out))}
    assert float(rows["psnr"]["value"]) == data["metrics"]["psnr"]["value"]
    code, out, _ = _run(capsys, *pair, "--format", "markdown")
    assert code == 0 and "| psnr |" in out
    code, out, _ = _run(capsys, *pair, "--format", "html")
    assert code == 0 and check_self_contained(out).n_images == 2
