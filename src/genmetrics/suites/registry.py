"""Suite lookup: a built-in suite name or a path to a prompt file."""

from __future__ import annotations

import os
from pathlib import Path

from genmetrics.errors import UserError
from genmetrics.suites.builtin import BUILTIN_SUITES, load_builtin
from genmetrics.suites.model import PromptSuite
from genmetrics.suites.userfile import SUFFIXES, load_user_suite


def list_suites() -> list[str]:
    """Names of the built-in suites."""
    return list(BUILTIN_SUITES)


def suite_description(name: str) -> str:
    return BUILTIN_SUITES[name].description if name in BUILTIN_SUITES else ""


def load_suite(name_or_path: str | os.PathLike | PromptSuite) -> PromptSuite:
    """A built-in suite by name (``"hpdv2"``) or a user prompt file (.json, .jsonl, .csv, .txt).

    A :class:`PromptSuite` passes through unchanged."""
    if isinstance(name_or_path, PromptSuite):
        return name_or_path
    key = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and key.lower() in BUILTIN_SUITES:
        return load_builtin(key.lower())
    path = Path(key)
    if path.exists() or path.suffix.lower() in SUFFIXES:
        return load_user_suite(path)
    raise UserError(
        f"unknown prompt suite {key!r}: use a built-in suite ({', '.join(BUILTIN_SUITES)}) "
        f"or the path of a prompt file ({', '.join(SUFFIXES)})"
    )
