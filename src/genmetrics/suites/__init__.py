"""Prompt suites: the built-in HPD v2 benchmark prompts and user prompt files."""

from __future__ import annotations

from genmetrics.suites.builtin import BUILTIN_SUITES
from genmetrics.suites.export import FORMATS, export_text
from genmetrics.suites.model import PromptItem, PromptSuite, make_prompt_id
from genmetrics.suites.registry import list_suites, load_suite, suite_description
from genmetrics.suites.userfile import load_user_suite

__all__ = [
    "BUILTIN_SUITES",
    "FORMATS",
    "PromptItem",
    "PromptSuite",
    "export_text",
    "list_suites",
    "load_suite",
    "load_user_suite",
    "make_prompt_id",
    "suite_description",
]
