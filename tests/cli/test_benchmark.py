import csv
import io
import json
import random

import numpy as np
import pytest

from genmetrics import evaluate
from genmetrics.cli.app import main
from tests.comparison.helpers import fake_metrics, value_of, write_const, write_suite  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_metrics")
STYLES = ("sky", "sea")  # suite order, not alphabetical


def _hand(values, n_chunks):
    chunks = np.array_split(np.asarray(values, dtype=np.float64), n_chunks)
    means = [sum(c.tolist()) / len(c) for c in chunks]
    m = sum(means) / len(means)
    return m, (sum((x - m) ** 2 for x in means) / len(means)) ** 0.5


@pytest.fixture
def bench(tmp_path):
    """2 styles x 20 prompts; style 'sea' has two samples per prompt (NNNNN and NNNNN_k1)."""
    suite = write_suite(tmp_path / "mini.json", {"sky": 20, "sea": 20})
    files = []
    for si, style in enumerate(STYLES):
        for i in range(20):
            files.append((f"{style}/{i:05d}.png", value_of(si, i)))
            if style == "sea":
                files.append((f"{style}/{i:05d}_k1.png", value_of(si, i, 1)))
    random.Random(3).shuffle(files)
    for rel, v in files:
        write_const(tmp_path / "imgs" / rel, v)
    return tmp_path / "imgs", suite


def _expected(style_index, style, skip=()):
    out = []
    for i in range(20):
        if i in skip:
            continue
        samples = [value_of(style_index, i)] + (
            [value_of(style_index, i, 1)] if style == "sea" else []
        )
        out.append(sum(samples) / len(samples))
    return out


def _run(capsys, *args):
    code = main(["benchmark", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_chunk_protocol_end_to_end(bench, capsys, tmp_path):
    imgs, suite = bench
    code, out, err = _run(
        capsys,
        imgs,
        "--suite",
        suite,
        "--metrics",
        "brightness,is",
        "--format",
        "json",
        "--out",
        tmp_path / "res",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["styles"] == list(STYLES) and doc["n_chunks"] == 10
    cells = {c["style"]: c for c in doc["metrics"]["brightness"]["cells"]}
    assert list(cells) == ["sky", "sea", "Average"]
    everything = []
    for si, style in enumerate(STYLES):
        values = _expected(si, style)
        everything += values
        mean, std = _hand(values, 10)
        assert cells[style]["mean"] == pytest.approx(mean, abs=1e-9)
        assert cells[style]["std"] == pytest.approx(std, abs=1e-9)
        lo, hi = cells[style]["ci95"]
        assert lo <= mean <= hi
        assert cells[style]["n_prompts"] == 20
    assert cells["sky"]["n_images"] == 20 and cells["sea"]["n_images"] == 40
    assert cells["Average"]["mean"] == pytest.approx(np.mean(everything), abs=1e-9)
    assert doc["counts"]["missing_prompts"] == 0
    # set-level metric: computed on each style's images
    is_cells = {c["style"]: c for c in doc["metrics"]["is"]["cells"]}
    from genmetrics.sources.items import items_from
    from tests.fakes import PixelBackbone

    sky = [i for i in items_from(imgs) if i.id.startswith("sky/")]
    direct = evaluate(sky, None, "is", backbones={"inception": PixelBackbone()}, cache=False)
    assert is_cells["sky"]["mean"] == pytest.approx(direct["is"], rel=1e-6)
    assert is_cells["sky"]["method"] == "set" and is_cells["sea"]["n_images"] == 40
    # the Average of a set-level metric is what its header says: the mean of the style values
    assert is_cells["Average"]["mean"] == pytest.approx(
        (is_cells["sky"]["mean"] + is_cells["sea"]["mean"]) / 2, rel=1e-12
    )
    assert is_cells["Average"]["method"] == "styles-mean" and is_cells["Average"]["std"] is None
    pooled = doc["metrics"]["is"]["all_images"]
    direct_all = evaluate(imgs, None, "is", backbones={"inception": PixelBackbone()}, cache=False)
    assert pooled["mean"] == pytest.approx(direct_all["is"], rel=1e-6) and pooled["n_images"] == 60
    assert "all_images" not in doc["metrics"]["brightness"]
    res = tmp_path / "res"
    assert json.loads((res / "benchmark.json").read_text())["styles"] == list(STYLES)
    md = (res / "benchmark.md").read_text()
    assert "| style | mean ± std |" in md
    assert "Average = mean of the style values (as in the HPS v2 paper)" in md
    assert "Average = mean of all prompt scores of all styles" in md
    rows = list(csv.DictReader(io.StringIO((res / "benchmark.csv").read_text())))
    assert {r["metric"] for r in rows} == {"brightness", "is"} and len(rows) == 6
    assert len(list(csv.DictReader(open(res / "per_image.csv")))) == 60


def test_missing_images_error_or_counted(bench, capsys):
    imgs, suite = bench
    (imgs / "sky" / "00003.png").unlink()
    (imgs / "sea" / "00010.png").unlink()
    (imgs / "sea" / "00010_k1.png").unlink()
    code, out, err = _run(capsys, imgs, "--suite", suite, "--metrics", "brightness")
    assert code == 2
    assert "2 of 40 prompts" in err and "sky/00003, sea/00010" in err and "--allow-missing" in err
    code, out, err = _run(
        capsys,
        imgs,
        "--suite",
        suite,
        "--metrics",
        "brightness",
        "--allow-missing",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["counts"]["missing_prompts"] == 2
    assert doc["counts"]["missing_by_style"] == {"sky": 1, "sea": 1}
    assert doc["counts"]["missing_prompt_ids"] == ["sky/00003", "sea/00010"]
    cells = {c["style"]: c for c in doc["metrics"]["brightness"]["cells"]}
    mean, std = _hand(_expected(0, "sky", skip=(3,)), 10)
    assert cells["sky"]["n_prompts"] == 19
    assert cells["sky"]["mean"] == pytest.approx(mean) and cells["sky"]["std"] == pytest.approx(std)
    code, out, _ = _run(
        capsys,
        imgs,
        "--suite",
        suite,
        "--metrics",
        "brightness",
        "--allow-missing",
        "--format",
        "markdown",
    )
    assert code == 0 and "| sky |" in out and "2 missing" in out


def test_formats_and_unknown_image(bench, capsys):
    imgs, suite = bench
    code, out, _ = _run(
        capsys, imgs, "--suite", suite, "--metrics", "brightness", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["style"] for r in rows] == ["sky", "sea", "Average"]
    code, out, _ = _run(capsys, imgs, "--suite", suite, "--metrics", "brightness")
    assert code == 0 and "brightness" in out and "±" in out
    write_const(imgs / "sky" / "00099.png", 5)
    code, _, err = _run(capsys, imgs, "--suite", suite, "--metrics", "brightness")
    assert code == 2 and "1 image(s) match no prompt" in err and "sky/00099" in err


def test_hpdv2_style_order_with_allow_missing(tmp_path, capsys):
    styles = ("photo", "anime", "paintings", "concept-art")
    for si, style in enumerate(styles):
        for i in range(4):
            write_const(tmp_path / "h" / style / f"{i:05d}.png", value_of(si, i))
    code, _, err = _run(capsys, tmp_path / "h", "--metrics", "brightness", "--n-chunks", "2")
    assert code == 2 and "3184 of 3200 prompts of suite 'hpdv2'" in err
    code, out, err = _run(
        capsys,
        tmp_path / "h",
        "--metrics",
        "brightness",
        "--n-chunks",
        "2",
        "--allow-missing",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["styles"] == ["anime", "concept-art", "paintings", "photo"]
    assert doc["counts"]["missing_by_style"] == dict.fromkeys(doc["styles"], 796)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--metrics", "is", "--n-chunks", "5"],
            "--n-chunks does not apply: set-level metrics (is)",
        ),
        (
            ["--metrics", "fid", "--reference", "REF", "--seed", "3"],
            "--seed does not apply: no random numbers are drawn for fid",
        ),
        (["--metrics", "is", "--reference", "REF"], "--reference does not apply: none of is"),
        (
            ["--metrics", "brightness", "--reference", "REF"],
            "--reference does not apply: none of brightness",
        ),
        (
            ["--metrics", "is", "--suite", "none", "--allow-missing"],
            "--allow-missing does not apply: without a suite",
        ),
    ],
)
def test_options_without_effect_are_refused_before_any_work(
    bench, capsys, monkeypatch, args, message
):
    from genmetrics.comparison import scoring

    imgs, suite = bench
    monkeypatch.setattr(scoring, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    args = [a if a != "REF" else imgs for a in args]
    if "--suite" not in args:
        args = [*args, "--suite", suite]
    code, _, err = _run(capsys, imgs, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_options_of_unknown_kind_are_checked_after_scoring(bench, capsys):
    imgs, suite = bench
    code, _, err = _run(capsys, imgs, "--suite", suite, "--metrics", "brightness", "--seed", "1")
    assert code == 0, err  # per-image: the seed drives the bootstrap
    code, out, err = _run(capsys, imgs, "--suite", suite, "--metrics", "is", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["n_chunks"] is None  # no chunks for set-level metrics
