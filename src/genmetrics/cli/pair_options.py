"""The paired-metric flags of ``pair`` and ``compare`` (``--lpips-net``, ``--lpips-resize``),
generated from the one option table :data:`genmetrics.comparison.pair_metrics.PAIR_OPTIONS`."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer


def with_pair_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with one flag per paired-metric option; it receives the options given as
    ``pair_options`` (option name → text, unchecked: :func:`~genmetrics.comparison.
    pair_metrics.pair_options` checks them)."""
    from genmetrics.metrics.pair_options import PAIR_OPTIONS

    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)
    params = [p for p in signature.parameters.values() if p.name != "pair_options"]
    annotations = {k: v for k, v in hints.items() if k != "pair_options"}
    for option in PAIR_OPTIONS:
        params.append(inspect.Parameter(
            option.name, inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, option.flag, help=f"{option.help} (default: {option.default})",
                                 show_default=False, rich_help_panel="Paired-metric options"),
            annotation=str | None,
        ))
        annotations[option.name] = str | None

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        given = {o.name: kwargs.pop(o.name) for o in PAIR_OPTIONS if kwargs.get(o.name) is not None}
        for o in PAIR_OPTIONS:
            kwargs.pop(o.name, None)
        return command(**kwargs, pair_options=given)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    run.__annotations__ = annotations
    return run
