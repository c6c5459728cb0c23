"""Shared CLI pieces: error handling and output formats."""

from __future__ import annotations

import sys
from enum import Enum

import typer


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def echo(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
