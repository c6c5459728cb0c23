"""The HTML-only parts of a report: plots and image grids (see :class:`Visuals`).

* distributions: per per-image metric, violins of the image scores of every set, per style;
* changes: for a variant and each style, the prompts with the largest drop and the largest
  gain of the first per-image metric against the baseline (prompt score = mean of its samples,
  as in the paired test), baseline and variant images side by side with prompt, seed, scores;
* extremes: per per-image metric and set, the best and the worst images;
* samples: an evenly spaced sample of each set (``evaluate``: generated and reference);
* the manifold: where precision/recall/density/coverage ran, the generated images outside the
  reference manifold and the reference images no generated image covers;
* forest plots of paired differences and bars of PSNR/SSIM/MS-SSIM per style.

Images are found through ``images(set_name, row)`` (a reader, or ``None`` and a reason) and
embedded as small thumbnails (:mod:`genmetrics.results.render.images`); a missing image is
a placeholder naming the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from genmetrics.results.numbers import format_number
from genmetrics.results.render import plots
from genmetrics.results.render.document import Figure, GridItem, GridRow, ImageGrid, Note, Section
from genmetrics.results.render.images import Reader, Thumbnailer
from genmetrics.results.render.rows import row_key, row_style

__all__ = ["DEFAULT_TOP", "ImageLookup", "Visuals"]

DEFAULT_TOP = 4
ImageLookup = Callable[[str, dict[str, Any]], tuple[Reader | None, str]]
AVERAGE = "Average"


def _higher_is_better(column: str) -> bool:
    from genmetrics.metrics.registry import get_metric

    try:
        return bool(get_metric(column.split(".", 1)[0]).higher_is_better)
    except Exception:  # noqa: BLE001 - an unknown column (e.g. from an older run): higher
        return True


def _score(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


class Visuals:
    """Builds plots and image grids for one report."""

    def __init__(
        self,
        images: ImageLookup | None = None,
        top: int = DEFAULT_TOP,
        thumbnailer: Thumbnailer | None = None,
    ) -> None:
        self.images = images
        self.top = max(0, int(top))
        self.thumbs = thumbnailer or Thumbnailer()

    # ------------------------------------------------------------ plots

    def forest(self, rows, metric: str, margin: float, higher_is_better: bool) -> Figure:
        svg = plots.forest(rows, metric, margin, higher_is_better)
        side = "right" if higher_is_better else "left"
        caption = (
            f"{metric}: mean paired difference (dot) and its 95% bootstrap CI (bar) per variant "
            f"and style; better is to the {side}"
        )
        if margin > 0:
            caption += f"; the shaded band is the equivalence margin ±{format_number(margin)}"
        return Figure(svg, caption + ". Colour = verdict.")

    def similarity_bars(self, similarity: Mapping[str, Any], styles: Sequence[str]) -> list[Figure]:
        out = []
        metrics = list(dict.fromkeys(m for s in similarity.values() for m in s.get("metrics") or []))
        for m in metrics:
            series = {
                v: [sim["styles"][s][m]["value"] for s in styles]
                for v, sim in similarity.items()
                if m in (sim.get("metrics") or [])
            }
            errors = {
                v: [sim["styles"][s][m].get("std") for s in styles]
                for v, sim in similarity.items()
                if m in (sim.get("metrics") or [])
            }
            out.append(
                Figure(
                    plots.bars(m, list(styles), series, errors),
                    f"{m} of each variant against the baseline image of the same prompt, per "
                    "style (mean ± sample std; a hatched bar is infinite: identical images)",
                )
            )
        return out

    def distribution_sections(
        self,
        rows_by_set: Mapping[str, Sequence[dict[str, Any]]],
        columns: Sequence[str],
        styles: Sequence[str] | None = None,
    ) -> list[Section]:
        if not columns:
            return []
        names = list(rows_by_set)
        figures: list[Any] = []
        for col in columns:
            found = list(
                dict.fromkeys(row_style(r) for rows in rows_by_set.values() for r in rows)
            )
            order = [s for s in (styles or []) if s in found] + [
                s for s in found if s not in (styles or [])
            ]
            panels: dict[str, dict[str, np.ndarray]] = {}
            for style in order:
                panels[style] = {
                    n: np.array([_score(r.get(col)) for r in rows if row_style(r) == style])
                    for n, rows in rows_by_set.items()
                }
            if len(order) > 1:
                panels["all styles"] = {
                    n: np.array([_score(r.get(col)) for r in rows]) for n, rows in rows_by_set.items()
                }
            arrow = "higher is better" if _higher_is_better(col) else "lower is better"
            figures.append(
                Figure(
                    plots.distributions(col, panels, names),
                    f"{col} ({arrow}): distribution of the per-image scores of each set, per "
                    "style (violin: density; bar: quartiles; dot: median)",
                )
            )
        return [Section("distributions of per-image scores", figures, anchor="distributions")]

    # ------------------------------------------------------------ images

    def _item(self, set_name: str, row: dict[str, Any], columns: Sequence[str]) -> GridItem:
        reader, reason = (None, "no image source") if self.images is None else self.images(set_name, row)
        uri, why = self.thumbs.uri(f"{set_name}\0{row.get('id')}", reader) if reader else (None, reason)
        scores = [(c, format_number(_score(row.get(c)))) for c in columns if c in row]
        return GridItem(set_name, uri, why, scores, str(row.get("id", "")))

    def change_sections(
        self,
        rows_by_set: Mapping[str, Sequence[dict[str, Any]]],
        baseline: str,
        variants: Sequence[str],
        metric: str,
        higher_is_better: bool,
        styles: Sequence[str],
        columns: Sequence[str],
    ) -> list[Section]:
        if self.top == 0 or baseline not in rows_by_set:
            return []
        sections = []
        base = _by_key(rows_by_set[baseline])
        sign = 1.0 if higher_is_better else -1.0
        for variant in variants:
            if variant not in rows_by_set:
                continue
            var = _by_key(rows_by_set[variant])
            # prompt -> (style, [(key, b, v)])
            prompts: dict[str, list[tuple[tuple[str, int], float, float]]] = {}
            for key in sorted(base.keys() & var.keys()):
                b, v = _score(base[key].get(metric)), _score(var[key].get(metric))
                prompts.setdefault(key[0], []).append((key, b, v))
            grids = []
            for style in [*styles, *sorted({row_style(r) for r in base.values()} - set(styles))]:
                scored = []
                for pid, entries in prompts.items():
                    first = base[entries[0][0]]
                    if row_style(first) != style:
                        continue
                    d = float(np.mean([v for _, _, v in entries]) - np.mean([b for _, b, _ in entries]))
                    if np.isfinite(d):
                        scored.append((d * sign, pid, entries[0][0], d))
                if not scored:
                    continue
                scored.sort(key=lambda t: (t[0], t[1]))
                drops = [t for t in scored if t[0] < 0][: self.top]
                gains = [t for t in reversed(scored) if t[0] > 0][: self.top]
                rows = []
                for tone, picked in (("worse", drops), ("better", gains)):
                    for _, pid, key, d in picked:
                        b_row, v_row = base[key], var[key]
                        details = [
                            ("prompt id", pid),
                            ("seed", _seed(b_row, v_row)),
                            (f"Δ {metric}", format_number(d)),
                        ]
                        rows.append(
                            GridRow(
                                str(b_row.get("prompt") or v_row.get("prompt") or pid),
                                [
                                    self._item(baseline, b_row, columns),
                                    self._item(variant, v_row, columns),
                                ],
                                details,
                                tone,
                            )
                        )
                grids.append(
                    ImageGrid(
                        style,
                        rows,
                        f"{len(drops)} largest drop(s) and {len(gains)} largest gain(s) of "
                        f"{metric} in style {style}",
                    )
                )
            if grids:
                sections.append(
                    Section(
                        f"where {variant} differs from {baseline}: largest {metric} drops and gains",
                        [
                            Note(
                                f"Per style, the prompts whose {metric} changed most from {baseline} "
                                f"to {variant} (prompt score = mean of its samples; the first "
                                "sample is shown). Left: baseline, right: variant."
                            ),
                            *grids,
                        ],
                        anchor=f"changes-{variant}",
                    )
                )
        return sections

    def extreme_sections(
        self, rows_by_set: Mapping[str, Sequence[dict[str, Any]]], columns: Sequence[str]
    ) -> list[Section]:
        if self.top == 0 or not columns:
            return []
        grids: list[Any] = []
        for col in columns:
            hib = _higher_is_better(col)
            for name, rows in rows_by_set.items():
                scored = [(r, _score(r.get(col))) for r in rows]
                scored = [(r, s) for r, s in scored if np.isfinite(s)]
                if not scored:
                    continue
                scored.sort(key=lambda t: (-t[1] if hib else t[1], str(t[0].get("id"))))
                best = scored[: self.top]
                worst = list(reversed(scored[-self.top :])) if len(scored) > self.top else []
                grid_rows = [
                    GridRow("best", [self._captioned(name, r, columns) for r, _ in best], tone="better")
                ]
                if worst:
                    grid_rows.append(
                        GridRow(
                            "worst", [self._captioned(name, r, columns) for r, _ in worst], tone="worse"
                        )
                    )
                grids.append(ImageGrid(f"{col} — {name}", grid_rows))
        if not grids:
            return []
        return [
            Section(
                "best and worst images by each per-image metric",
                grids,
                anchor="extremes",
            )
        ]

    def _captioned(self, name: str, row: dict[str, Any], columns: Sequence[str]) -> GridItem:
        item = self._item(name, row, columns)
        item.label = str(row.get("prompt") or row.get("id"))
        item.scores = [("id", str(row.get("id"))), ("seed", _seed(row)), *item.scores]
        return item


    # ------------------------------------------------------------ samples and the manifold

    def sample_sections(self, rows_by_set: Mapping[str, Sequence[dict[str, Any]]]) -> list[Section]:
        """An evenly spaced sample of ``2 * top`` images of each set (id order)."""
        if self.top == 0:
            return []
        grids = []
        for name, rows in rows_by_set.items():
            if not rows:
                continue
            picked = _spread(list(rows), 2 * self.top)
            grids.append(ImageGrid(
                f"{name}: {len(picked)} of {len(rows)} images",
                [GridRow("", [self._sample(name, r) for r in picked])],
                "evenly spaced in id order",
            ))
        if not grids:
            return []
        return [Section("sample images of each set", grids, anchor="samples", html_only=True)]

    def manifold_sections(
        self, generated: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]] = ()
    ) -> list[Section]:
        """Where precision/recall/density/coverage ran: the generated images outside the
        reference manifold (in no reference k-NN ball; farthest first when the per-image
        ``precision.manifold_ratio`` is known) and the reference images no generated image
        covers (``coverage.covered`` false; farthest first by ``coverage.nearest_ratio``)."""
        if self.top == 0:
            return []
        grids: list[Any] = []
        outside = [r for r in generated if _false(r.get(IN_MANIFOLD))]
        if outside:
            far = _farthest(outside, MANIFOLD_RATIO, "density.real_balls_containing")
            grids.append(ImageGrid(
                f"generated images outside the reference manifold: {len(outside)} of {len(generated)}",
                [GridRow("", [self._sample("generated", r, (MANIFOLD_RATIO, IN_MANIFOLD))
                              for r in far[: 2 * self.top]], tone="worse")],
                "in no reference image's k-NN ball (precision counts the others)"
                + ("; farthest first (distance / ball radius)" if any(MANIFOLD_RATIO in r for r in outside)
                   else ""),
            ))
        uncovered = [r for r in reference if _false(r.get(COVERED))]
        if uncovered:
            far = _farthest(uncovered, COVERAGE_RATIO)
            grids.append(ImageGrid(
                f"reference images no generated image covers: {len(uncovered)} of {len(reference)}",
                [GridRow("", [self._sample("reference", r, (COVERAGE_RATIO,))
                              for r in far[: 2 * self.top]], tone="worse")],
                "no generated image inside their k-NN ball (coverage counts the others); "
                "farthest first",
            ))
        if not grids:
            return []
        return [Section("the reference manifold: what the generated set misses", grids,
                        anchor="manifold", html_only=True)]

    def _sample(self, name: str, row: dict[str, Any], columns: Sequence[str] = ()) -> GridItem:
        item = self._item(name, row, [c for c in columns if c in row])
        item.label = str(row.get("prompt") or row.get("id"))
        item.scores = [("id", str(row.get("id"))), *item.scores]
        return item


IN_MANIFOLD = "precision.in_real_manifold"
MANIFOLD_RATIO = "precision.manifold_ratio"
COVERED = "coverage.covered"
COVERAGE_RATIO = "coverage.nearest_ratio"


def _false(value: Any) -> bool:
    """A per-image indicator read back from JSON, CSV (``False``/``false``/``0``) or Parquet."""
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no")
    return value is not None and not bool(value) and not (isinstance(value, float) and np.isnan(value))


def _spread(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: str(r.get("id")))
    if len(rows) <= n:
        return rows
    picks = np.unique(np.round(np.linspace(0, len(rows) - 1, n)).astype(int))
    return [rows[i] for i in picks]


def _farthest(rows: list[dict[str, Any]], ratio: str, fewest: str | None = None) -> list[dict[str, Any]]:
    """Largest ``ratio`` first (then fewest ``fewest``, then id) — id order without them."""
    def key(r: dict[str, Any]):
        v = _score(r.get(ratio))
        c = _score(r.get(fewest)) if fewest else float("nan")
        return (-v if np.isfinite(v) else (-np.inf if v == np.inf else np.inf),
                c if np.isfinite(c) else np.inf, str(r.get("id")))

    return sorted(rows, key=key)


def _seed(*rows: dict[str, Any]) -> str:
    seeds = [r.get("seed") for r in rows if r.get("seed") not in (None, "")]
    if not seeds:
        return "not recorded"
    if len(set(map(str, seeds))) == 1:
        return str(seeds[0])
    return " / ".join(map(str, seeds))


def _by_key(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        out.setdefault(row_key(r), r)
    return out
