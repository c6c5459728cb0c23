"""Escaping of text that goes into CSV and Markdown outputs (prompts, styles, file and set names).

:func:`csv_cell` defuses spreadsheet formulas (OWASP "CSV injection"): a text cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single quote ``'``,
so a spreadsheet shows it as text instead of running it. Numbers (``int``, ``float``, numpy
scalars) are never changed, and neither is a string that is exactly a number literal
(``-1.5``, ``+2e-3``, ``-inf``, ``nan``): a spreadsheet reads it as that number, no formula
can hide in it, and the numbers our writers format as text stay numbers. The quote is part of
the cell for any other reader (e.g. ``csv.reader``): strip a leading ``'`` from text cells
that start with ``'=``, ``'+``, ``'-``, ``'@``, ``'\\t`` or ``'\\r`` to get the original.

:func:`markdown_cell` makes any text render literally inside a Markdown table cell (and in
headings or captions): ``&``, ``<``, ``>`` become HTML entities (raw HTML is shown, never
interpreted), line breaks become ``<br>`` (a line break in the rendered cell), ``|`` becomes
``\\|``, and the other characters that Markdown may act on get a backslash: ``\\``, the backtick,
``*``, ``~``, ``#``, ``$`` always, ``_`` unless it sits between two letters or digits (an
intra-word ``_`` never starts emphasis) and ``]`` when ``(`` or ``[`` follows it (what makes a
link or an image; a bracket alone stays as typed, so ``[0.1, 0.2]`` reads as is).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["csv_cell", "markdown_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE
)
_ALWAYS = re.compile(r"([\\`*~#$|])")
_LINK_BRACKET = re.compile(r"\](?=[(\[])")
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def csv_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text that a spreadsheet would run as a formula gets a ``'``."""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def markdown_cell(text: Any) -> str:
    """``text`` as Markdown that renders as the original text, on one line (see module doc)."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _ALWAYS.sub(r"\\\1", s)
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _LINK_BRACKET.sub(r"\\]", s)
    return s.replace("\r\n", "<br>").replace("\r", "<br>").replace("\n", "<br>")
