"""The one intermediate form of every output: a :class:`Document`.

Every command fills a Document; every format renders it (:mod:`genmetrics.results.render`):

* ``sections`` — titled blocks: :class:`Table` (columns and rows of typed :class:`Cell`),
  :class:`Figure` (an SVG plot), :class:`ImageGrid` (thumbnails with prompt, seed and scores)
  and :class:`Note` (a paragraph). The terminal table and Markdown show the tables, the
  notes and the captions; HTML shows every block. Sections marked ``html_only`` are visual
  detail (plots, grids) that text formats leave out.
* ``records`` — the long-format rows of the CSV output (:class:`Records`).
* ``data`` — the machine-readable object of the JSON output (plain types, non-finite numbers
  kept as floats: the JSON writer applies :func:`genmetrics.results.numbers.jsonable`).
* ``manifest`` — how the numbers were made (protocols, weights, versions, command line).

A :class:`Cell` keeps the number(s) and says what they are (``kind``), so each format
chooses the presentation (text via :func:`genmetrics.results.numbers.format_number`, colours
for verdicts in HTML) from the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from genmetrics.results.numbers import format_number

__all__ = [
    "Block",
    "Cell",
    "Document",
    "Figure",
    "GridItem",
    "GridRow",
    "ImageGrid",
    "Note",
    "Records",
    "Section",
    "Table",
    "ci_cell",
    "count_cell",
    "estimate_cell",
    "number_cell",
    "p_cell",
    "text_cell",
    "verdict_cell",
]

CELL_KINDS = ("text", "number", "estimate", "ci", "p", "verdict", "count")


@dataclass(frozen=True)
class Cell:
    """One typed table cell.

    ``kind``: ``text`` (``text``), ``number`` (``value``), ``estimate`` (``value`` ± ``std``,
    with its CI ``low``/``high`` when known; ``empty`` when there is no value at all),
    ``ci`` (``low``/``high``), ``p`` (a p-value ``value``), ``verdict`` (``text``: better,
    worse, equivalent, inconclusive or a reason) and ``count`` (an integer ``value``).
    """

    kind: str
    value: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    text: str = ""
    empty: bool = False
    tone: str = ""
    """``worse``/``better``/``""``: how the value compares with the baseline's (HTML colour)."""

    def display(self) -> str:
        """The text of the cell, the same in every text format."""
        if self.kind in ("text", "verdict"):
            return self.text
        if self.kind == "count":
            return "" if self.value is None else str(int(self.value))
        if self.kind == "p":
            x = self.value
            if x is None:
                return ""
            return f"{x:.1e}" if 0 < x < 1e-3 else format_number(x)
        if self.kind == "ci":
            return ci_text(self.low, self.high)
        if self.kind == "estimate":
            if self.empty:
                return "—"
            if self.std is None:
                return format_number(self.value)
            return f"{format_number(self.value)} ± {format_number(self.std)}"
        return format_number(self.value)

    @property
    def ci_display(self) -> str:
        """``[low, high]`` of an estimate (empty when it has no CI)."""
        return ci_text(self.low, self.high) if self.kind == "estimate" else ""

    @property
    def sort_value(self) -> float | None:
        v = self.value
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def ci_text(low: float | None, high: float | None) -> str:
    return "" if low is None else f"[{format_number(low)}, {format_number(high)}]"


def text_cell(text: Any) -> Cell:
    return Cell("text", text="" if text is None else str(text))


def number_cell(value: float | None) -> Cell:
    return Cell("number", value=None if value is None else float(value))


def estimate_cell(
    value: float | None,
    std: float | None = None,
    low: float | None = None,
    high: float | None = None,
    empty: bool = False,
) -> Cell:
    return Cell("estimate", _float(value), _float(std), _float(low), _float(high), empty=empty)


def _float(x: float | None) -> float | None:
    return None if x is None else float(x)


def ci_cell(low: float | None, high: float | None) -> Cell:
    return Cell(
        "ci", low=None if low is None else float(low), high=None if high is None else float(high)
    )


def p_cell(value: float | None) -> Cell:
    return Cell("p", value=None if value is None else float(value))


def verdict_cell(text: str) -> Cell:
    return Cell("verdict", text=text)


def count_cell(value: int | None) -> Cell:
    return Cell("count", value=None if value is None else int(value))


@dataclass
class Table:
    """Columns and rows of cells. ``align``: one of ``left``/``right`` per column (default:
    the first left, the others right)."""

    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    align: list[str] | None = None
    title: str = ""  # terminal only: the rich table title (default: the section title)

    def alignment(self) -> list[str]:
        if self.align is not None:
            return list(self.align)
        return ["left"] + ["right"] * (len(self.columns) - 1)


@dataclass
class Figure:
    """A plot as an SVG document made by :mod:`genmetrics.results.render.plots` (every text
    in it escaped by the SVG writer, comments removed)."""

    svg: str
    caption: str = ""


@dataclass
class GridItem:
    """One image of a grid row: its set, a thumbnail ``data:`` URI (``None`` when the image
    could not be read: shown as a placeholder saying ``missing``) and its scores."""

    label: str
    uri: str | None
    missing: str = ""
    scores: list[tuple[str, str]] = field(default_factory=list)
    path: str = ""


@dataclass
class GridRow:
    """Images of one prompt side by side. ``tone``: ``worse``/``better``/``""`` (colour)."""

    title: str
    items: list[GridItem]
    details: list[tuple[str, str]] = field(default_factory=list)
    tone: str = ""


@dataclass
class ImageGrid:
    title: str
    rows: list[GridRow]
    caption: str = ""


@dataclass
class Note:
    text: str


Block = Table | Figure | ImageGrid | Note


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    html_only: bool = False
    anchor: str = ""

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


@dataclass
class Records:
    """Long-format rows for CSV: ``columns`` in order; missing keys are empty cells."""

    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Headline:
    """A one-line answer at the top of an HTML report (e.g. 'fast: worse on hps')."""

    text: str
    tone: str = ""


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    records: Records | None = None
    manifest: dict[str, Any] | None = None
    subtitle: str = ""
    headlines: list[Headline] = field(default_factory=list)
    kind: str = ""

    def text_sections(self) -> list[Section]:
        return [s for s in self.sections if not s.html_only]
