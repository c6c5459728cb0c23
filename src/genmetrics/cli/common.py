"""Shared CLI pieces: error handling and output formats."""

from __future__ import annotations

import sys
from enum import Enum


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def warn_lines(messages: list[str]) -> None:
    """Each warning of a result as one ``warning:`` line on stderr."""
    for message in messages:
        sys.stderr.write(f"warning: {message}\n")
