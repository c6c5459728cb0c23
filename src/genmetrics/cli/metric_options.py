"""The metric flags of ``evaluate``, ``benchmark`` and ``compare``, generated from the option
table (:mod:`genmetrics.metrics.options`): declared once, the same on every command."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from genmetrics.metrics.options import option_table

_CLI_TYPES = {int: int, float: float, str: str, list: str}


def with_metric_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with one flag per declared metric option (except names the command already
    has, such as ``--seed``). The command receives the options given as ``metric_options``:
    a dict of option name → value, parsed and unchecked (evaluate checks them)."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)
    own = [p for p in signature.parameters.values() if p.name != "metric_options"]
    taken = {p.name for p in own}
    added = [o for name, o in sorted(option_table().items()) if name not in taken]
    params = list(own)
    annotations = {k: v for k, v in hints.items() if k != "metric_options"}
    for option in added:
        default = "" if option.default is None else f" (default: {option.default})"
        params.append(inspect.Parameter(
            option.name, inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, option.flag, help=option.help + default,
                                 show_default=False, rich_help_panel="Metric options"),
            annotation=_CLI_TYPES[option.type] | None,
        ))
        annotations[option.name] = _CLI_TYPES[option.type] | None

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        given = {}
        for option in added:
            value = kwargs.pop(option.name, None)
            if value is not None:
                given[option.name] = option.parse(value) if isinstance(value, str) else value
        return command(**kwargs, metric_options=given)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    run.__annotations__ = annotations
    return run
