"""Write a suite as JSONL, JSON or CSV (fields ``id``, ``style``, ``index``, ``prompt``)."""

from __future__ import annotations

import csv
import io
import json

from genmetrics.errors import UserError
from genmetrics.suites.model import PromptSuite

FORMATS = ("jsonl", "json", "csv")


def export_text(suite: PromptSuite, fmt: str = "jsonl") -> str:
    """The suite serialised in ``fmt``; every output can be read back by ``load_suite``."""
    rows = [item.to_dict() for item in suite.items]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=["id", "style", "index", "prompt"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    raise UserError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
