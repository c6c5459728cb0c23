"""``benchmark`` says what ``evaluate`` says about its numbers: a per-style FID on fewer images
than feature dims carries the N < D warning, folded into one line per metric that counts the
styles (not one line per style). Before: no warning at all."""

from __future__ import annotations

import json

import pytest

from genmetrics.cli.app import main
from genmetrics.comparison.scoring import style_warnings
from tests.fakes import PixelBackbone, write_images

N_LOW = "samples but 64 feature dims (N < D)"


def _rank(n: int) -> str:
    return (f"the first set has {n} samples but 2048 feature dims (N < D): its covariance is "
            "rank-deficient and the Fréchet distance is strongly biased; use at least D samples")


def test_messages_differing_in_numbers_fold_into_one_line_with_a_range():
    lines = style_warnings("fid", {"anime": [_rank(100)], "photo": [_rank(98)], "art": [_rank(100)],
                                   "paint": []}, 4)
    assert lines == ["fid per style (3 of 4 styles: anime, photo, art): the first set has 98–100 "
                     "samples but 2048 feature dims (N < D): its covariance is rank-deficient and "
                     "the Fréchet distance is strongly biased; use at least D samples"]
    both = style_warnings("fid", {s: [_rank(50), "another thing"] for s in "abcdefgh"}, 8)
    assert [line.split(": ", 1)[0] for line in both] == ["fid per style (8 of 8 styles)"] * 2
    assert style_warnings("fid", {"a": []}, 1) == []


@pytest.fixture
def styled(tmp_path, monkeypatch):
    from tests.fakes import patch_backbones

    bb = PixelBackbone()
    patch_backbones(monkeypatch, lambda name, opts: bb)
    for style in ("sky", "sea", "land"):
        write_images(tmp_path / "imgs" / style, 6, seed=len(style))
    write_images(tmp_path / "real", 80, seed=9)
    return tmp_path


def test_benchmark_prints_one_rank_warning_per_metric(styled, capsys):
    code = main(["benchmark", str(styled / "imgs"), "--suite", "none", "-m", "fid",
                 "-r", str(styled / "real"), "-f", "json", "--no-cache", "--batch-size", "32"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [x for x in out.err.splitlines() if x.startswith("warning:")]
    per_style = [x for x in lines if "fid per style" in x]
    assert len(per_style) == 1, lines
    assert "(3 of 3 styles)" in per_style[0] and f"has 6 {N_LOW}" in per_style[0]
    pooled = [x for x in lines if "fid (all images pooled)" in x]
    assert len(pooled) == 1 and f"has 18 {N_LOW}" in pooled[0]
    assert len(lines) == 2
    doc = json.loads(out.out)
    assert [w for w in doc["warnings"] if "per style" in w] == [per_style[0].removeprefix("warning: ")]


def test_compare_prints_each_sets_rank_warnings(styled, capsys):
    """``compare`` prints the same folded lines, prefixed by the set they concern (before:
    none at all)."""
    import shutil

    shutil.copytree(styled / "imgs", styled / "variant")
    code = main(["compare", str(styled / "imgs"), str(styled / "variant"), "--names", "base,fast",
                 "--suite", "none", "-m", "fid", "-r", str(styled / "real"), "-f", "json",
                 "--no-cache", "--batch-size", "32"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [x for x in out.err.splitlines() if x.startswith("warning:")]
    for name in ("base", "fast"):
        mine = [x for x in lines if x.startswith(f"warning: {name}: ")]
        assert len([x for x in mine if "fid per style (3 of 3 styles)" in x]) == 1, lines
        assert len([x for x in mine if "fid (all images pooled)" in x and f"has 18 {N_LOW}" in x]) == 1
