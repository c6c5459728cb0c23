"""``genmetrics metrics`` and ``genmetrics weights list`` answer what a newcomer asks: what
each metric needs (inputs, extra, weights, options), the paired metrics too, and every weights
file in full — nothing cut, piped or on a narrow terminal."""

from __future__ import annotations

import pytest

from genmetrics.cli.app import main
from genmetrics.comparison.pair_metrics import PAIR_METRICS
from genmetrics.metrics.needs import metric_needs
from genmetrics.metrics.options import option_table
from genmetrics.metrics.registry import metric_specs
from genmetrics.weights.store import weight_specs


def _out(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _entry(text: str, name: str) -> str:
    """The lines of ``name`` in the metrics listing (its line and the indented ones after)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
    end = next((i for i in range(start + 1, len(lines))
                if not lines[i].startswith(" " * 6)), len(lines))
    return " ".join(" ".join(lines[start:end]).split())


def test_every_metric_and_paired_metric_is_listed(capsys):
    text = _out(capsys, "metrics")
    for name in [*metric_specs(), *PAIR_METRICS]:
        assert any(line.split()[:1] == [name] for line in text.splitlines()), name
    assert {"psnr", "ssim", "ms_ssim"} <= set(PAIR_METRICS)
    assert "…" not in text


@pytest.mark.parametrize("name, needles", [
    ("fid", ["needs --reference", "weights: inception", "lower is better"]),
    ("is", ["weights: inception", "options: --is-splits"]),
    ("fd_dinov2", ["pip install 'genmetrics[clip]'", "weights: dinov2-vit-l14"]),
    ("clip_score", ["needs --prompts", "pip install 'genmetrics[clip]'", "clip-vit-l-14-openai",
                    "--clip-score-convention"]),
    ("aesthetic", ["aesthetic-laion-improved-l14", "--aesthetic-head"]),
    ("hpsv3", ["pip install 'genmetrics[hpsv3]'", "MizzenAI/HPSv3"]),
    ("pickscore", ["yuvalkirstain/PickScore_v1"]),
    ("precision", ["those of --features (default: inception)", "--pr-k"]),
    ("swd", ["sliced Wasserstein-2", "root mean square", "--swd-projections"]),
    ("ssim", ["higher is better"]),
])
def test_a_metric_says_what_it_needs(capsys, name, needles):
    entry = _entry(_out(capsys, "metrics"), name)
    for needle in needles:
        assert needle in entry, f"{needle!r} not in {entry!r}"


def test_needs_come_from_the_declarations():
    """Every backbone a metric asks for declares weights, and every option it names exists."""
    options = {o.flag for o in option_table().values()}
    for name, spec in metric_specs().items():
        needs = metric_needs(spec)
        assert needs.weights, f"{name} names no weights"
        assert set(needs.options) <= options, name
        if spec.needs_reference:
            assert "--reference" in needs.inputs


def test_piped_listings_are_one_line_per_item(capsys):
    """Piped (as here), nothing wraps and nothing is cut: a full sha256 on its line."""
    text = _out(capsys, "weights", "list")
    assert "…" not in text
    for name, spec in weight_specs().items():
        assert f"sha256:   {spec.sha256}" in text, name
        assert spec.origin in text, name
        assert f"genmetrics weights download {name}" in text


def test_narrow_terminal_wraps_without_cutting(capsys, monkeypatch):
    from genmetrics.cli import listing

    monkeypatch.setattr(listing, "wrap_width", lambda: 60)
    text = _out(capsys, "metrics")
    assert "…" not in text
    too_long = [line for line in text.splitlines() if len(line) > 60]
    assert all(len(line.split()) == 1 for line in too_long), too_long  # only a word longer than a line
    assert "pip install 'genmetrics[clip]'" in text  # kept on one line
    text = _out(capsys, "weights", "list")
    for spec in weight_specs().values():
        assert spec.sha256 in text
