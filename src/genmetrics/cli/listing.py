"""``genmetrics metrics``: every metric, what it needs (inputs, extra, weights) and its options.

Everything comes from the declarations (metric specs, backbone infos, the option tables,
the paired metrics of ``pair``/``compare --similarity``); nothing loads a network. On a
terminal long lines wrap under their column; piped, each item stays on one line.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterable

import typer

from genmetrics.cli.common import echo

app = typer.Typer()

GROUP_TITLES = {
    "distribution": "Distribution metrics: generated set vs reference set (evaluate --reference; "
    "per style in benchmark and compare)",
    "text-image": "Text–image metrics: a score per image, most against its prompt (--prompts)",
    "editing": "Editing metrics: each edited image vs its source image, with the edit prompt",
}
PAIRED_TITLE = ("Paired metrics: image A vs image B, matched by name (genmetrics pair A B; "
                "compare --similarity)")


def wrap_width() -> int | None:
    """The terminal width when stdout is a terminal; ``None`` (no wrapping) when piped."""
    if not sys.stdout.isatty():
        return None
    return max(60, shutil.get_terminal_size((100, 24)).columns - 1)


def paragraph(text: str, width: int | None) -> list[str]:
    return [text] if width is None else textwrap.wrap(text, width, break_on_hyphens=False)


def _wrapped(parts: list[str], head: str, pad: str, width: int | None) -> list[str]:
    """``parts`` joined by `` · ``; on a terminal, lines break between parts where they can
    (so a ``pip install '…'`` stays on one line), inside a part only when it alone is too long."""
    if width is None:
        return [head + " · ".join(parts)]
    lines: list[str] = []
    line = head
    for part in parts:
        sep = "" if line in (head, pad) else " · "
        if line not in (head, pad) and len(line) + len(sep) + len(part) > width:
            lines.append(line)
            line, sep = pad, ""
        if len(line) + len(sep) + len(part) > width:
            chunks = textwrap.wrap(part, width, initial_indent=line + sep, subsequent_indent=pad,
                                   break_on_hyphens=False, break_long_words=False)
            lines += chunks[:-1]
            line = chunks[-1]
        else:
            line += sep + part
    return [*lines, line]


def item_lines(name: str, lines: Iterable[list[str] | str], column: int, width: int | None) -> list[str]:
    """``name`` then its lines in a column; a line is a text or a list of parts joined by
    `` · `` (each wrapped to ``width`` under the column on a terminal)."""
    out: list[str] = []
    pad = " " * column
    for i, text in enumerate(lines):
        head = f"  {name:<{column - 2}}" if i == 0 else pad
        if len(head) > column:  # a long name: its text starts on the next line
            out.append(head.rstrip())
            head = pad
        out += _wrapped([text] if isinstance(text, str) else text, head, pad, width)
    return out


def _metric_lines(name: str, spec) -> list[str]:
    from genmetrics.metrics.needs import metric_needs

    needs = metric_needs(spec)
    facts = ["higher is better" if spec.higher_is_better else "lower is better"]
    facts += [f"needs {flag}" for flag in needs.inputs]
    facts += list(needs.installs)
    if needs.weights:
        shown = ", ".join(needs.weights)
        facts.append(f"weights: those of --features (default: {shown})" if needs.follows_features
                     else f"weights: {shown}")
    if needs.options:
        facts.append("options: " + ", ".join(needs.options))
    return [spec.description, facts]


def _paired() -> list[tuple[str, list]]:
    from genmetrics.comparison.pair_metrics import PAIR_METRICS
    from genmetrics.metrics.pair_options import PAIR_OPTIONS

    out = []
    for name, metric in PAIR_METRICS.items():
        facts = ["higher is better" if metric.higher_is_better else "lower is better"]
        flags = [o.flag for o in PAIR_OPTIONS if o.name.startswith(name + "_")]
        if flags:
            facts.append("options: " + ", ".join(flags))
        out.append((name, [metric.description, facts]))
    return out


def _option_lines(width: int | None) -> list[str]:
    from genmetrics.metrics.options import option_table

    lines = []
    for _, option in sorted(option_table().items()):
        default = "" if option.default is None else f" [default: {option.default}]"
        lines += item_lines(option.flag, [option.help + default], 28, width)
    return lines


@app.command("metrics")
def list_metrics() -> None:
    """List every metric with what it needs (inputs, extra, weights) and its options."""
    from genmetrics.metrics.registry import metric_specs

    width = wrap_width()
    specs = metric_specs()
    groups: dict[str, list[str]] = {}
    for name in sorted(specs):
        groups.setdefault(specs[name].group or "other", []).append(name)
    order = [g for g in GROUP_TITLES if g in groups] + sorted(set(groups) - set(GROUP_TITLES))
    column = 2 + max(len(n) for n in [*specs, "ms_ssim"]) + 2
    out: list[str] = []
    for group in order:
        out += paragraph(GROUP_TITLES.get(group, f"{group.capitalize()} metrics"), width)
        for name in groups[group]:
            out += item_lines(name, _metric_lines(name, specs[name]), column, width)
        out.append("")
    out += paragraph(PAIRED_TITLE, width)
    for name, lines in _paired():
        out += item_lines(name, lines, column, width)
    out += ["", *paragraph("Metric options of evaluate, benchmark and compare (each metric "
                           "above names the ones it reads)", width)]
    out += _option_lines(width)
    out += ["", *paragraph("Weights: `genmetrics weights list` shows each file, its source and "
                           "whether it is cached; names with a slash are Hugging Face "
                           "repositories, read from its cache.", width)]
    echo("\n".join(out))
