"""The metric flags of ``evaluate``, ``benchmark`` and ``compare``, generated from the option
table (:mod:`genmetrics.metrics.options`): declared once, accepted the same on every command.

``--help`` groups them by the family of the metrics that read them (distribution,
text–image). ``evaluate`` shows every family; ``benchmark`` and ``compare`` show the
text–image options of their per-image metrics and name the others in one line (``genmetrics
metrics`` lists every option with the metrics that read it)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

import typer

from genmetrics.metrics.options import option_table

_CLI_TYPES = {int: int, float: float, str: str, list: str}

FAMILIES = {"distribution": "distribution", "text-image": "text-image", "editing": "text-image"}
PANELS = {"distribution": "Distribution metric options", "text-image": "Text–image metric options"}
ALL = ("distribution", "text-image", "other")
PER_IMAGE = ("text-image", "other")


def option_families() -> dict[str, str]:
    """Option name → the family of the metrics that read it (``other`` when unknown or mixed)."""
    from genmetrics.metrics.registry import metric_specs

    seen: dict[str, set[str]] = {}
    for spec in metric_specs().values():
        for name in spec.options:
            seen.setdefault(name, set()).add(FAMILIES.get(spec.group, "other"))
    return {name: next(iter(f)) if len(f) == 1 else "other" for name, f in seen.items()}


def with_metric_options(
    command: Callable[..., Any] | None = None, *, show: Iterable[str] = PER_IMAGE
) -> Any:
    """``command`` with one flag per declared metric option (except names the command already
    has, such as ``--seed``). The command receives the options given as ``metric_options``:
    a dict of option name → value, parsed and unchecked (evaluate checks them).

    ``show``: the families whose flags ``--help`` lists (:data:`ALL` or the default
    :data:`PER_IMAGE`); the others are accepted all the same and named in one line."""
    if command is None:
        return lambda c: with_metric_options(c, show=show)
    shown = set(show)
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)
    own = [p for p in signature.parameters.values() if p.name != "metric_options"]
    taken = {p.name for p in own}
    families = option_families()
    order = {family: i for i, family in enumerate(ALL)}
    added = sorted((o for name, o in option_table().items() if name not in taken),
                   key=lambda o: (order.get(families.get(o.name, "other"), len(order)), o.name))
    params = list(own)
    annotations = {k: v for k, v in hints.items() if k != "metric_options"}
    hidden = []
    for option in added:
        family = families.get(option.name, "other")
        default = "" if option.default is None else f" [default: {option.default}]"
        if family not in shown:
            hidden.append(option.flag)
        params.append(inspect.Parameter(
            option.name, inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, option.flag, help=option.help + default,
                                 show_default=False, hidden=family not in shown,
                                 rich_help_panel=PANELS.get(family, "Metric options")),
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
    if hidden:
        shown_flags = ", ".join(hidden[:3]) + (", …" if len(hidden) > 3 else "")
        run.__doc__ = (inspect.getdoc(command) or "").rstrip() + (
            f"\n\nThe other metric options ({shown_flags}) are accepted too, as in evaluate; "
            "`genmetrics metrics` lists every option with the metrics that read it."
        )
    return run
