import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from genmetrics.cli.app import main
from genmetrics.comparison import scoring
from genmetrics.metrics.functional.image_similarity import psnr, ssim
from tests.comparison.helpers import fake_metrics, write_suite  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_metrics")
STYLES = ("sky", "sea")
SPEC_COLUMNS = [
    "metric",
    "variant",
    "style",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "verdict",
]


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def sets(tmp_path):
    """base; same (identical files, written in reverse order); dark (each image darker by 5-15)."""
    suite = write_suite(tmp_path / "mini.json", {"sky": 12, "sea": 12})
    rng = np.random.default_rng(0)
    ids = [f"{s}/{i:05d}" for s in STYLES for i in range(12)]
    base = {k: rng.integers(20, 236, (24, 24, 3), dtype=np.uint8) for k in ids}
    offsets = {k: int(rng.integers(5, 16)) for k in ids}
    dark = {k: (v.astype(int) - offsets[k]).astype(np.uint8) for k, v in base.items()}
    for k in ids:
        _save(tmp_path / "base" / f"{k}.png", base[k])
    for k in reversed(ids):
        _save(tmp_path / "same" / f"{k}.png", base[k])
        _save(tmp_path / "dark" / f"{k}.png", dark[k])
    return tmp_path, suite, ids, base, dark


def _bright(arr):
    return float(np.float32(arr.mean()))


def _run(capsys, *args):
    code = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_identical_and_altered_variants(sets, capsys, monkeypatch):
    root, suite, ids, base, dark = sets
    calls = []
    real = scoring.evaluate
    monkeypatch.setattr(scoring, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    code, out, err = _run(
        capsys,
        root / "base",
        root / "same",
        root / "dark",
        "--suite",
        suite,
        "--metrics",
        "brightness",
        "--names",
        "base,same,dark",
        "--margin",
        "0.5",
        "--similarity",
        "psnr,ssim",
        "--format",
        "json",
        "--out",
        root / "res",
    )
    assert code == 0, err
    assert len(calls) == 3  # one evaluate call per folder
    doc = json.loads(out)
    m = doc["metrics"]["brightness"]
    assert doc["baseline"] == "base" and list(m["table"]) == ["base", "same", "dark"]
    same = m["paired"]["same"]["styles"]
    assert {s: r["verdict"] for s, r in same.items()} == dict.fromkeys(
        [*STYLES, "Average"], "equivalent"
    )
    assert same["Average"]["diff"] == 0.0
    d = m["paired"]["dark"]["styles"]
    assert {s: r["verdict"] for s, r in d.items()} == dict.fromkeys([*STYLES, "Average"], "worse")
    b = np.array([_bright(base[k]) for k in ids])
    v = np.array([_bright(dark[k]) for k in ids])
    assert d["Average"]["diff"] == pytest.approx((v - b).mean(), abs=1e-9)
    assert d["Average"]["p_value_ttest"] == pytest.approx(stats.ttest_rel(v, b).pvalue, rel=1e-9)
    assert d["sky"]["p_value_wilcoxon"] == pytest.approx(
        stats.wilcoxon(v[:12] - b[:12]).pvalue, rel=1e-9
    )
    assert d["sky"]["ci95"][1] < 0
    sim = doc["similarity"]
    same_psnr = sim["same"]["styles"]["Average"]["psnr"]
    assert same_psnr["value"] is None and same_psnr["value_nonfinite"] == "inf"
    assert sim["same"]["styles"]["sea"]["ssim"]["value"] == 1.0
    exp_psnr = np.mean([psnr(base[k], dark[k]) for k in ids if k.startswith("sky/")])
    exp_ssim = np.mean([ssim(base[k], dark[k]) for k in ids])
    assert sim["dark"]["styles"]["sky"]["psnr"]["value"] == pytest.approx(exp_psnr, abs=1e-9)
    assert sim["dark"]["styles"]["Average"]["ssim"]["value"] == pytest.approx(exp_ssim, abs=1e-9)
    # every format written under --out parses
    res = root / "res"
    assert json.loads((res / "compare.json").read_text())["baseline"] == "base"
    rows = list(csv.DictReader(io.StringIO((res / "compare.csv").read_text())))
    assert list(rows[0])[:12] == SPEC_COLUMNS
    dark_avg = [
        r
        for r in rows
        if r["metric"] == "brightness" and r["variant"] == "dark" and r["style"] == "Average"
    ][0]
    assert dark_avg["verdict"] == "worse" and float(dark_avg["diff"]) < 0
    assert any(
        r["metric"] == "psnr" and r["variant"] == "same" and r["mean"] == "inf" for r in rows
    )
    md = (res / "compare.md").read_text()
    assert "| sky | sea | Average |" in md and "| verdict |" in md
    assert (res / "per_image.csv").exists()


def test_matching_by_id_not_listing_order(sets, capsys):
    root, suite, ids, base, dark = sets
    (root / "dark" / "sky" / "00000.png").unlink()  # shifts the listing of one side by one
    code, out, err = _run(
        capsys,
        root / "base",
        root / "dark",
        "--suite",
        suite,
        "--metrics",
        "brightness",
        "--similarity",
        "psnr",
    )
    assert code == 2 and "sky/00000" in err
    code, out, err = _run(
        capsys,
        root / "base",
        root / "dark",
        "--suite",
        suite,
        "--metrics",
        "brightness",
        "--similarity",
        "psnr",
        "--allow-missing",
        "--format",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    kept = ids[1:]
    b = np.array([_bright(base[k]) for k in kept])
    v = np.array([_bright(dark[k]) for k in kept])
    paired = doc["metrics"]["brightness"]["paired"]["dark"]
    assert paired["only_baseline"] == ["sky/00000"] and paired["n_pairs"] == 23
    assert paired["styles"]["Average"]["diff"] == pytest.approx((v - b).mean(), abs=1e-9)
    assert doc["similarity"]["dark"]["only_baseline"] == ["sky/00000"]
    assert doc["sets"][1]["counts"]["missing_prompts"] == 1


def test_formats_margins_and_errors(sets, capsys):
    root, suite, *_ = sets
    args = [root / "base", root / "dark", "--suite", suite, "--metrics", "brightness"]
    code, out, _ = _run(capsys, *args, "--margins", "brightness=20", "--format", "markdown")
    assert code == 0 and "margin 20.0000" in out and "| dark | Average |" in out
    assert "equivalent" in out  # a shift of 5-15 lies inside a margin of 20
    code, out, _ = _run(capsys, *args, "--format", "csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(out)))[0]["metric"] == "brightness"
    code, out, _ = _run(capsys, *args)
    assert code == 0 and "±" in out and "worse" in out
    code, _, err = _run(capsys, *args, "--margins", "hps=0.1")
    assert code == 2 and "not among --metrics" in err
    code, _, err = _run(capsys, *args, "--names", "only-one")
    assert code == 2 and "--names" in err
    big = root / "big" / "sky" / "00000.png"
    big.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(big)
    from genmetrics.comparison.similarity import pair_similarity
    from genmetrics.errors import UserError
    from genmetrics.sources.items import items_from

    with pytest.raises(UserError, match="is 24x24 but .* is 30x30"):
        pair_similarity(
            items_from(root / "base"), items_from(root / "big"), "psnr", allow_missing=True
        )


def _unescaped_pipes(line):
    return sum(1 for i, c in enumerate(line) if c == "|" and (i == 0 or line[i - 1] != "\\"))


def test_user_text_is_escaped_in_csv_and_markdown(tmp_path, capsys):
    styles = ['=HYPERLINK("x")', "a|b", "two\nlines"]
    rng = np.random.default_rng(1)
    for folder in ("base", "var"):
        for style in styles:
            for i in range(4):
                _save(
                    tmp_path / folder / style / f"{i:05d}.png",
                    rng.integers(0, 255, (8, 8, 3), dtype=np.uint8),
                )
    names = '=HYPERLINK("http://x"),<script>alert(1)</script>'
    args = [tmp_path / "base", tmp_path / "var", "--suite", "none", "--metrics", "brightness"]
    args += ["--n-chunks", "2", "--names", names, "--out", tmp_path / "res", "--format", "markdown"]
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    res = tmp_path / "res"
    for path in (res / "compare.csv", res / "per_image.csv"):
        rows = list(csv.reader(io.StringIO(path.read_text(), newline="")))
        cells = [c for row in rows for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], path
        assert not [c for c in cells if c.startswith("-") and not c.lstrip("-")[:1].isdigit()]
    table = list(csv.DictReader(io.StringIO((res / "compare.csv").read_text(), newline="")))
    assert {r["variant"] for r in table} == {
        '\'=HYPERLINK("http://x")',
        "<script>alert(1)</script>",
    }
    assert {r["style"] for r in table} == {'\'=HYPERLINK("x")', "a|b", "two\nlines", "Average"}
    per_image = list(csv.DictReader(io.StringIO((res / "per_image.csv").read_text(), newline="")))
    assert '\'=HYPERLINK("x")/00000' in {r["id"] for r in per_image}
    assert {r["set"] for r in per_image} == {
        '\'=HYPERLINK("http://x")',
        "<script>alert(1)</script>",
    }
    md = (res / "compare.md").read_text()
    assert md == out.rstrip("\n") or md.rstrip("\n") == out.rstrip("\n")
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"a\|b" in md and "two<br>lines" in md and '=HYPERLINK("http://x")' in md
    for block in md.split("\n\n"):
        table_lines = [line for line in block.splitlines() if line.startswith("|")]
        if table_lines:
            assert len({_unescaped_pipes(line) for line in table_lines}) == 1, block
    # the terminal table shows rich markup as typed
    code, out, err = _run(capsys, *args[:-4], "--names", "[/]base,[bold]var", "--format", "table")
    assert code == 0, err
    assert "[/]base" in out and "[bold]var" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "is", "--margin", "0.1"], "--margin does not apply: set-level metrics (is)"),
        (["--metrics", "is", "--n-chunks", "4"], "--n-chunks does not apply"),
        (["--metrics", "is", "--margins", "is=0.1"], "--margins names set-level metrics (is)"),
        (
            ["--metrics", "brightness,is", "--margins", "is=0.1"],
            "--margins names set-level metrics (is)",
        ),
        (
            ["--metrics", "brightness", "--margin", "1", "--margins", "brightness=2"],
            "--margin does not apply: --margins gives every per-image metric its own margin",
        ),
        (
            ["--metrics", "is", "--suite", "none", "--allow-missing"],
            "--allow-missing does not apply",
        ),
    ],
)
def test_options_without_effect_are_refused(sets, capsys, args, message):
    root, suite, *_ = sets
    if "--suite" not in args:
        args = [*args, "--suite", suite]
    code, _, err = _run(capsys, root / "base", root / "dark", *args)
    last = err.strip().splitlines()[-1]  # after scoring when a metric's kind is not known before
    assert code == 2 and last.startswith("error: ") and message in last


def test_set_level_average_and_difference(sets, capsys):
    root, suite, *_ = sets
    args = [root / "base", root / "dark", "--suite", suite, "--metrics", "is", "--format", "json"]
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    doc = json.loads(out)
    entry = doc["metrics"]["is"]
    for name in ("base", "dark"):
        cells = {c["style"]: c["mean"] for c in entry["table"][name]}
        assert cells["Average"] == pytest.approx((cells["sky"] + cells["sea"]) / 2, rel=1e-12)
        assert entry["all_images"][name]["n_images"] == 24
    diff = entry["difference"]["dark"]
    assert diff["Average"] == pytest.approx((diff["sky"] + diff["sea"]) / 2, rel=1e-9)
    assert entry["margin"] is None and doc["n_chunks"] is None
    code, out, _ = _run(capsys, *args[:-2], "--format", "markdown")
    assert code == 0 and "Average = mean of the style values" in out
