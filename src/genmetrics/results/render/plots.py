"""Plots for HTML reports, drawn with matplotlib and embedded as inline SVG.

Figures are made with :class:`matplotlib.figure.Figure` directly (no pyplot, no display, no
global backend change) and written by matplotlib's SVG writer, which escapes every text
(``&``, ``<``, ``>``, quotes) it writes; comments, the XML prolog and the DOCTYPE are then
removed. Labels are user text (styles, variant names): ``$`` is escaped so that matplotlib never
reads them as mathtext. Text is kept as SVG text (``svg.fonttype: none``): small and selectable.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["VERDICT_COLORS", "bars", "distributions", "forest"]

VERDICT_COLORS = {
    "better": "#1a7f37",
    "worse": "#cf222e",
    "equivalent": "#0969da",
    "inconclusive": "#9a6700",
}
SET_COLORS = ("#6e7781", "#0969da", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6639ba")
_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.image_inline": True,
}
_STRIP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*", re.IGNORECASE),
    re.compile(r"<!--.*?-->\s*", re.DOTALL),
    re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL),
)


def label(text: object, limit: int = 40) -> str:
    """User text for a matplotlib label: ``$`` escaped (no mathtext), long text cut."""
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")


def set_color(i: int) -> str:
    return SET_COLORS[i % len(SET_COLORS)]


def _svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    return text.strip()


def _figure(width: float, height: float):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def forest(
    rows: Sequence[tuple[str, float, float | None, float | None, str]],
    metric: str,
    margin: float = 0.0,
    higher_is_better: bool = True,
) -> str:
    """Forest plot of paired differences: one row per ``(label, diff, ci_low, ci_high,
    verdict)``, the CI as a bar coloured by verdict, zero and the ±margin band marked."""
    import matplotlib

    n = len(rows)
    with matplotlib.rc_context(_RC):
        fig = _figure(7.0, 0.8 + 0.28 * max(n, 1))
        ax = fig.add_subplot()
        if margin > 0:
            ax.axvspan(-margin, margin, color="#0969da", alpha=0.08, lw=0)
        ax.axvline(0.0, color="#57606a", lw=0.8)
        for i, (_, diff, lo, hi, verdict) in enumerate(rows):
            y = n - 1 - i
            color = VERDICT_COLORS.get(verdict, "#57606a")
            if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=color, lw=2.2, solid_capstyle="butt")
            if diff is not None and math.isfinite(diff):
                ax.plot([diff], [y], "o", color=color, ms=5)
        ax.set_yticks(range(n))
        ax.set_yticklabels([label(r[0], 48) for r in reversed(rows)])
        ax.set_ylim(-0.7, n - 0.3)
        better = "→ better" if higher_is_better else "← better"
        ax.set_xlabel(label(f"{metric}: variant − baseline (95% CI)   {better}", 90))
        ax.grid(axis="x", color="#d0d7de", lw=0.5)
        return _svg(fig)


def distributions(
    metric: str,
    panels: Mapping[str, Mapping[str, np.ndarray]],
    set_names: Sequence[str],
) -> str:
    """Violins of per-image scores: one panel per style (``panels[style][set] = scores``),
    one violin per set, the median marked; sets with fewer than 2 finite scores are shown
    as points."""
    import matplotlib

    styles = list(panels)
    cols = min(len(styles), 5) or 1
    rows_n = math.ceil(len(styles) / cols) or 1
    width = min(10.0, 1.0 + cols * (0.5 + 0.45 * len(set_names)))
    with matplotlib.rc_context(_RC):
        fig = _figure(max(width, 4.0), 2.3 * rows_n)
        axes = fig.subplots(rows_n, cols, squeeze=False, sharey=True)
        for k, style in enumerate(styles):
            ax = axes[k // cols][k % cols]
            for i, name in enumerate(set_names):
                values = np.asarray(panels[style].get(name, []), dtype=np.float64)
                values = values[np.isfinite(values)]
                color = set_color(i)
                if values.size >= 2 and np.ptp(values) > 0:
                    parts = ax.violinplot(values, [i], widths=0.8, showextrema=False)
                    for body in parts["bodies"]:
                        body.set_facecolor(color)
                        body.set_edgecolor(color)
                        body.set_alpha(0.35)
                    q1, med, q3 = np.percentile(values, [25, 50, 75])
                    ax.plot([i, i], [q1, q3], color=color, lw=3)
                    ax.plot([i], [med], "o", color="white", ms=3.5, mec=color)
                elif values.size:
                    ax.plot([i] * values.size, values, "o", color=color, ms=3)
            ax.set_xticks(range(len(set_names)))
            ax.set_xticklabels([label(s, 14) for s in set_names], rotation=30, ha="right")
            ax.set_title(label(style, 30), fontsize=9)
            ax.grid(axis="y", color="#d0d7de", lw=0.5)
        for k in range(len(styles), rows_n * cols):
            axes[k // cols][k % cols].set_visible(False)
        axes[0][0].set_ylabel(label(metric))
        return _svg(fig)


def bars(
    metric: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    errors: Mapping[str, Sequence[float | None]] | None = None,
) -> str:
    """Grouped bars: one group per style (``groups``), one bar per series (variant); an
    infinite value (identical images under PSNR) is drawn as a hatched bar at the top."""
    import matplotlib

    names = list(series)
    n = max(len(names), 1)
    width = 0.8 / n
    finite = [
        v for vals in series.values() for v in vals if v is not None and math.isfinite(v)
    ]
    top = max(finite) * 1.1 if finite and max(finite) > 0 else 1.0
    with matplotlib.rc_context(_RC):
        fig = _figure(min(9.0, 1.5 + 0.9 * len(groups) * max(1, n) * 0.6), 2.4)
        ax = fig.add_subplot()
        for i, name in enumerate(names):
            xs = np.arange(len(groups)) + (i - (n - 1) / 2) * width
            vals = series[name]
            errs = (errors or {}).get(name)
            labelled = False
            for j, v in enumerate(vals):
                if v is None or math.isnan(v):
                    continue
                if math.isinf(v):
                    ax.bar(xs[j], top, width * 0.95, color="none", edgecolor=set_color(i + 1),
                           hatch="///", label=None if labelled else label(name))
                    labelled = True
                    continue
                e = errs[j] if errs is not None else None
                ax.bar(xs[j], v, width * 0.95, color=set_color(i + 1),
                       yerr=e if e is not None and math.isfinite(e) else None,
                       error_kw={"lw": 0.8, "capsize": 2}, label=None if labelled else label(name))
                labelled = True
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([label(g, 20) for g in groups])
        ax.set_ylabel(label(metric))
        ax.grid(axis="y", color="#d0d7de", lw=0.5)
        if len(names) > 1:
            ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)
