"""Metric options, declared once: name, type, default, help, and the range or choices checked
before any work. The CLI builds the flags of ``evaluate``, ``benchmark`` and ``compare`` from
this table, so a new option appears everywhere by being declared here by its metric module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmetrics.errors import UserError


@dataclass(frozen=True)
class MetricOption:
    """One option of one or more metrics."""

    name: str
    default: Any
    help: str
    type: type = int
    """``int``, ``float``, ``str`` or ``list`` (a list of strings; comma-separated on the CLI)."""
    minimum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """A CLI string as this option's value (lists are comma-separated)."""
        if self.type is list:
            return [x.strip() for x in text.split(",") if x.strip()]
        return text

    def check(self, value: Any) -> Any:
        """``value`` if it is valid, else a :class:`UserError` naming the flag."""
        if value is None and self.default is None:
            return value
        if self.type in (int, float):
            kinds = (int,) if self.type is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise UserError(f"{self.flag} must be {'an integer' if self.type is int else 'a number'}, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                what = "an integer" if self.type is int else "a number"
                raise UserError(f"{self.flag} must be {what} of at least {self.minimum:g}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"{self.flag} must be one of {', '.join(self.choices)}, got {value!r}")
        return value


_OPTIONS: dict[str, MetricOption] = {}


def declare_options(*options: MetricOption) -> None:
    """Add options to the table (a metric module does this when it registers); one name
    declared twice must be declared the same way."""
    for option in options:
        known = _OPTIONS.get(option.name)
        if known is not None and known != option:
            raise UserError(
                f"metric option '{option.name}' ({option.flag}) is already declared differently "
                f"(default {known.default!r}: {known.help}); give the new option another name"
            )
        _OPTIONS[option.name] = option


def option_table() -> dict[str, MetricOption]:
    """Every declared option, by name (after :func:`genmetrics.catalog.load`)."""
    return dict(_OPTIONS)


def default_options() -> dict[str, Any]:
    return {name: option.default for name, option in _OPTIONS.items()}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Every option known and valid, merged over the defaults; a :class:`UserError` names
    the first bad one (as its CLI flag) before any work starts."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UserError(f"unknown option(s): {', '.join(unknown)}")
    merged = {**default_options(), **options}
    for name, option in _OPTIONS.items():
        option.check(merged[name])
    return merged
