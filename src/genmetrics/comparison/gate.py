"""A CI gate on a comparison: ``--require`` expressions checked for every variant.

Grammar (one expression per ``--require``; spaces allowed around the operator)::

    METRIC[@STYLE] OP NUMBER        OP: >=, <=, >, <     e.g. ssim>=0.89, lpips<=0.1
    METRIC[@STYLE]:VERDICT          VERDICT: not-worse, equivalent, better   e.g. hps:not-worse

``METRIC`` is a metric of the comparison: a paired similarity metric (``--similarity``: its
paired mean against the baseline), a per-image metric (``--metrics``: the variant's mean
score), a set-level metric (its value on all the variant's images pooled, or the style's
value) or ``NAME_vs_baseline`` for a distance to the baseline's images (``--vs-baseline``).
Without ``@STYLE`` the value over all images is used. A verdict requirement uses the paired
test of a per-image metric (the verdict under its margin: ``not-worse`` holds unless the
verdict is ``worse``). Expressions and metric names are checked before any work
(:func:`check_requirements`); a value that is undefined (NaN) fails its requirement.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from genmetrics.errors import UserError

__all__ = [
    "Outcome",
    "Requirement",
    "VS_BASELINE_SUFFIX",
    "check_requirements",
    "evaluate_requirements",
    "junit_xml",
    "parse_requirements",
]

VS_BASELINE_SUFFIX = "_vs_baseline"
VERDICTS = ("not-worse", "equivalent", "better")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_PATTERN = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_.\-]+?)\s*(?:@\s*(?P<style>[^<>:=]+?))?\s*"
    r"(?:(?P<op>>=|<=|>|<)\s*(?P<bound>[^<>=\s]\S*)|:\s*(?P<verdict>[A-Za-z\-_]+))\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One ``--require`` expression, parsed."""

    text: str
    metric: str
    style: str | None = None
    op: str | None = None
    bound: float | None = None
    verdict: str | None = None

    @property
    def where(self) -> str:
        return "all images" if self.style is None else f"style {self.style}"

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and _OPS[str(self.op)](value, float(self.bound))  # type: ignore[arg-type]


def parse_requirements(texts: Sequence[str] | None) -> list[Requirement]:
    """Each ``--require`` text as a :class:`Requirement`; a bad one is one error line."""
    out = []
    for text in texts or ():
        m = _PATTERN.match(text or "")
        if m is None:
            raise UserError(
                f"--require {text!r} is not METRIC[@STYLE]OP NUMBER (OP: >=, <=, >, <) or "
                "METRIC[@STYLE]:not-worse, e.g. --require 'ssim>=0.89' --require 'hps:not-worse'"
            )
        metric = m["metric"].strip().lower().replace("-", "_")
        style = m["style"].strip() if m["style"] else None
        if m["verdict"] is not None:
            verdict = m["verdict"].strip().lower().replace("_", "-")
            if verdict not in VERDICTS:
                raise UserError(
                    f"--require {text!r}: unknown verdict '{verdict}'; use one of {', '.join(VERDICTS)}"
                )
            out.append(Requirement(text.strip(), metric, style, verdict=verdict))
            continue
        try:
            bound = float(m["bound"])
        except ValueError:
            raise UserError(f"--require {text!r}: '{m['bound']}' is not a number") from None
        if math.isnan(bound):
            raise UserError(f"--require {text!r}: the bound must be a number, not NaN")
        out.append(Requirement(text.strip(), metric, style, m["op"], bound))
    return out


def check_requirements(
    requirements: Sequence[Requirement],
    metrics: Sequence[str],
    similarity: Sequence[str],
    vs_baseline: Sequence[str],
    per_image: Callable[[str], bool | None],
    styles: Collection[str] | None = None,
) -> None:
    """Every requirement names a metric this comparison computes, in a form it supports, and
    a known style (when ``styles`` is known) — checked before any work."""
    vs_names = [f"{m}{VS_BASELINE_SUFFIX}" for m in vs_baseline]
    known = [*metrics, *similarity, *vs_names]
    for r in requirements:
        if r.metric not in known:
            computed = ", ".join(known) if known else "nothing yet"
            raise UserError(
                f"--require {r.text!r}: unknown metric '{r.metric}' for this comparison "
                f"(it computes: {computed}); add it with --metrics, --similarity or --vs-baseline"
            )
        if r.verdict is not None and (r.metric not in metrics or per_image(r.metric) is False):
            raise UserError(
                f"--require {r.text!r}: a verdict needs the paired test of a per-image metric "
                f"(from --metrics, e.g. hps); '{r.metric}' has none: give a bound instead, "
                f"e.g. '{r.metric}{'<=' if r.metric == 'lpips' else '>='}VALUE'"
            )
        if r.style is not None and r.metric in vs_names:
            raise UserError(
                f"--require {r.text!r}: {r.metric} is computed on all images only; drop @{r.style}"
            )
        if r.style is not None and styles is not None and r.style not in styles:
            raise UserError(
                f"--require {r.text!r}: no style '{r.style}'; styles: {', '.join(styles)}"
            )


@dataclass(frozen=True)
class Outcome:
    """A requirement checked on one variant."""

    requirement: Requirement
    variant: str
    met: bool
    value: float | None
    detail: str

    def line(self) -> str:
        r = self.requirement
        status = "met" if self.met else "not met"
        return f"requirement {status}: {r.text} for {self.variant}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {
            "requirement": r.text,
            "metric": r.metric,
            "style": r.style,
            "variant": self.variant,
            "met": self.met,
            "value": self.value,
            "bound": r.bound,
            "op": r.op,
            "verdict_required": r.verdict,
            "detail": self.detail,
        }


def evaluate_requirements(report: Any, requirements: Sequence[Requirement]) -> list[Outcome]:
    """Each requirement on each variant of a :class:`~genmetrics.comparison.compare.CompareReport`
    (requirement order, then variant order)."""
    return [_check(report, r, v) for r in requirements for v in report.variants]


def _fmt(x: float | None) -> str:
    from genmetrics.results.numbers import format_number

    return format_number(x)


def _check(report: Any, r: Requirement, variant: str) -> Outcome:
    key = r.style or "Average"
    if r.metric.endswith(VS_BASELINE_SUFFIX) and r.metric[: -len(VS_BASELINE_SUFFIX)] in report.vs_baseline:
        value = float(report.vs_baseline[r.metric[: -len(VS_BASELINE_SUFFIX)]][variant].value)
        what = f"against {report.names[0]}'s images"
    elif r.metric in report.similarity_metrics:
        summary = report.similarity_summary(variant).get(key, {}).get(r.metric) or {}
        value = float(summary.get("value", math.nan))
        what = f"paired mean vs {report.names[0]} over {r.where}, {summary.get('n', 0)} pairs"
    elif r.verdict is not None:
        return _verdict(report, r, variant, key)
    else:
        table = report.tables[r.metric][variant]
        try:
            cell = table.all_images if r.style is None and table.all_images is not None else table.cell(key)
        except KeyError:
            raise UserError(f"--require {r.text!r}: no style '{r.style}' in {variant}") from None
        value = float(cell.mean)
        pooled = r.style is None and table.all_images is not None
        what = f"{variant}'s value on {'all images pooled' if pooled else r.where}"
    met = r.holds(value)
    detail = f"{r.metric} = {_fmt(value)} ({what}); required {r.op} {_fmt(r.bound)}"
    return Outcome(r, variant, met, value, detail)


def _verdict(report: Any, r: Requirement, variant: str, key: str) -> Outcome:
    result = report.paired[r.metric][variant].by_style.get(key)
    if result is None:
        detail = f"{r.metric} has no paired test over {r.where} (fewer than 2 matched prompts)"
        return Outcome(r, variant, False, None, detail)
    verdict = result.verdict
    met = {"not-worse": verdict != "worse", "equivalent": verdict == "equivalent",
           "better": verdict == "better"}[str(r.verdict)]
    detail = (
        f"paired verdict '{verdict}' over {r.where} (Δ {_fmt(result.mean_difference)}, 95% CI "
        f"[{_fmt(result.ci_low)}, {_fmt(result.ci_high)}], margin {_fmt(result.margin)}); "
        f"required {r.verdict}"
    )
    return Outcome(r, variant, met, float(result.mean_difference), detail)


def junit_xml(outcomes: Sequence[Outcome], baseline: str) -> str:
    """A JUnit XML report: one test case per requirement and variant, failures for unmet ones."""
    import xml.etree.ElementTree as ET

    failures = sum(1 for o in outcomes if not o.met)
    suites = ET.Element("testsuites", name="genmetrics compare", tests=str(len(outcomes)),
                        failures=str(failures), errors="0")
    suite = ET.SubElement(suites, "testsuite", name=f"genmetrics compare vs {baseline}",
                          tests=str(len(outcomes)), failures=str(failures), errors="0",
                          skipped="0")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"genmetrics.compare.{o.variant}",
                             name=o.requirement.text)
        if not o.met:
            failure = ET.SubElement(case, "failure", message=o.line(), type="requirement")
            failure.text = o.detail
        else:
            ET.SubElement(case, "system-out").text = o.detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
