"""How every ``--help`` reads: flags as plain flags (``--offline``, not ``--offline <bool>``),
arguments in capitals (``genmetrics report [OPTIONS] FOLDERS...``, not ``{folders}``) and
help texts shown literally (``genmetrics[ray]`` is not taken for rich markup).

The app gives :class:`HelpCommand` / :class:`HelpGroup` to every command and group it mounts
(:func:`use_everywhere`); only public click/typer hooks are overridden, so an older typer
renders the same help without these touches.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["HelpCommand", "HelpGroup", "use_everywhere"]


def _literal(text: str | None, markup: Any) -> str | None:
    """``text`` with rich markup escaped when the help is rendered as rich markup."""
    if not text or markup != "rich" or "[" not in text:
        return text
    from rich.markup import escape

    return escape(text)


def _flow(text: str | None) -> str | None:
    """Docstring paragraphs as flowing text: single line breaks become spaces (rich help keeps
    them, which breaks lines in the middle of the commands panel)."""
    if not text:
        return text
    paragraphs = text.split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


def _tidy_text(command: Any) -> None:
    """Once per command: its help (and short help) as flowing, literal text."""
    if getattr(command, "_genmetrics_text", False):
        return
    command._genmetrics_text = True
    markup = getattr(command, "rich_markup_mode", None)
    command.help = _literal(_flow(command.help), markup)
    if getattr(command, "short_help", None):
        command.short_help = _literal(_flow(command.short_help), markup)


def _tidy(command: Any, ctx: Any) -> None:
    """Once per command: metavars of flags and arguments, literal help texts."""
    _tidy_text(command)
    for sub in getattr(command, "commands", {}).values():  # a group's commands panel
        _tidy_text(sub)
    if getattr(command, "_genmetrics_tidy", False):
        return
    command._genmetrics_tidy = True
    markup = getattr(command, "rich_markup_mode", None)
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            display = getattr(param, "display_type_rich", None)
            if display is not None:  # newer typer prints a type column: the name says it all
                param.display_type_rich = lambda ctx=None: None
        elif getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # a flag takes no value: no "<bool>"
        param.help = _literal(getattr(param, "help", None), markup)


def _argument_usage(param: Any) -> str:
    name = param.metavar or (param.name or "value").upper()
    if param.nargs != 1:
        name += "..."
    return name if param.required else f"[{name}]"


class HelpCommand(TyperCommand):
    """A typer command whose help has the touches above."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if getattr(param, "param_type_name", "") == "argument":
                pieces.append(_argument_usage(param))
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _tidy(self, ctx)
        super().format_help(ctx, formatter)


class HelpGroup(TyperGroup):
    """A typer group (``genmetrics``, ``genmetrics weights``…) with the same touches."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _tidy(self, ctx)
        super().format_help(ctx, formatter)


def use_everywhere(app: typer.Typer) -> None:
    """Give :class:`HelpCommand` to every command of ``app`` that has no class of its own."""
    from typer.models import DefaultPlaceholder

    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand or isinstance(info.cls, DefaultPlaceholder):
            info.cls = HelpCommand
