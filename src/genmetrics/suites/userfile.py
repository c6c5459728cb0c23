"""Prompt suites from user files: JSON, JSONL, CSV or TXT.

Accepted layouts:

* ``.json``: a list of strings; a list of objects with ``prompt`` and optional ``style``, ``id``;
  or an object mapping style -> list (of strings or such objects).
* ``.jsonl``: one JSON object (``prompt``, optional ``style``, ``id``) or string per line.
* ``.csv``: a header row with a ``prompt`` column and optional ``style`` and ``id`` columns.
* ``.txt``: one prompt per line; blank lines are ignored.

Prompts without a style get the style ``default``. ``index`` is the 0-based position of the
prompt among those of its style, in file order; the default id is ``STYLE/NNNNN``. Styles name
image folders, so they must be plain names (letters, digits, ``.``, ``_``, ``-``).

Two prompts with the same id (given or default) are an error naming the file and both rows
(``line N`` in ``.jsonl``, ``.csv`` and ``.txt``, where a CSV row is numbered by the line it
starts on; ``item N`` in ``.json``), and so is a key repeated in one JSON object (e.g. a style
given twice). CSV is parsed by the ``csv`` module over the whole file, so a quoted prompt that
spans several lines keeps its text exactly, newlines included.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from genmetrics.errors import UserError
from genmetrics.suites.model import PromptItem, PromptSuite, make_prompt_id

DEFAULT_STYLE = "default"
SUFFIXES = (".json", ".jsonl", ".csv", ".txt")
_STYLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class _Raw:
    prompt: str
    style: str | None
    id: str | None
    where: str  # e.g. "line 3", "item 5"


def _fail(path: Path, where: str, problem: str, fix: str) -> UserError:
    loc = f"{path} ({where})" if where else str(path)
    return UserError(f"prompt file {loc}: {problem}; {fix}")


def _text_field(path: Path, where: str, obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(path, where, f"{key!r} must be a string", "write it as a quoted string")
    return str(value)


def _from_json_value(path: Path, where: str, value: object, style: str | None) -> _Raw:
    if isinstance(value, str):
        return _Raw(value, style, None, where)
    if isinstance(value, dict):
        if "prompt" not in value:
            raise _fail(
                path, where, "object has no 'prompt' key", 'give each object a "prompt" string'
            )
        prompt = value["prompt"]
        if not isinstance(prompt, str):
            raise _fail(path, where, "'prompt' must be a string", "write the prompt as a string")
        own_style = _text_field(path, where, value, "style")
        return _Raw(prompt, own_style or style, _text_field(path, where, value, "id"), where)
    raise _fail(
        path,
        where,
        f"expected a prompt string or an object, got {type(value).__name__}",
        'use "text" or {"prompt": "text", "style": "...", "id": "..."}',
    )


def _no_duplicate_keys(path: Path):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise _fail(
                    path, "", f"key {key!r} appears twice in one JSON object", "keep only one"
                )
            out[key] = value
        return out

    return hook


def _parse_json(path: Path, text: str) -> list[_Raw]:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys(path))
    except json.JSONDecodeError as exc:
        raise _fail(
            path, f"line {exc.lineno}", f"invalid JSON ({exc.msg})", "fix the syntax"
        ) from None
    if isinstance(data, list):
        return [_from_json_value(path, f"item {i}", v, None) for i, v in enumerate(data)]
    if isinstance(data, dict):
        raws: list[_Raw] = []
        for style, values in data.items():
            if not isinstance(values, list):
                raise _fail(
                    path,
                    f"style {style!r}",
                    "value must be a list of prompts",
                    'write {"style": ["prompt", ...], ...}',
                )
            raws.extend(
                _from_json_value(path, f"{style!r} item {i}", v, style)
                for i, v in enumerate(values)
            )
        return raws
    raise _fail(
        path,
        "",
        "top level must be a list or an object",
        'use ["prompt", ...], [{"prompt": ...}, ...] or {"style": ["prompt", ...]}',
    )


def _parse_jsonl(path: Path, text: str) -> list[_Raw]:
    raws: list[_Raw] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(
                path, f"line {n}", f"invalid JSON ({exc.msg})", "write one JSON object per line"
            ) from None
        raws.append(_from_json_value(path, f"line {n}", value, None))
    return raws


def _csv_records(path: Path, text: str) -> list[tuple[str, list[str]]]:
    """Non-empty CSV records with the line each starts on (quoted cells may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    last = 0
    try:
        for cells in reader:
            start, last = last + 1, reader.line_num
            if cells:
                records.append((f"line {start}", cells))
    except csv.Error as exc:
        raise _fail(
            path, f"line {reader.line_num}", f"invalid CSV ({exc})", "fix the quoting"
        ) from None
    return records


def _parse_csv(path: Path, text: str) -> list[_Raw]:
    records = _csv_records(path, text)
    header = [h.strip() for h in records[0][1]] if records else []
    if "prompt" not in header:
        raise _fail(
            path,
            "line 1",
            f"no 'prompt' column in the header {header}",
            "start the file with a header row such as: style,prompt",
        )
    raws: list[_Raw] = []
    for where, cells in records[1:]:
        if len(cells) > len(header):
            raise _fail(path, where, "more cells than header columns", "quote cells with commas")
        row = dict(zip(header, cells, strict=False))
        prompt = row.get("prompt") or ""
        style = (row.get("style") or "").strip() or None
        pid = (row.get("id") or "").strip() or None
        raws.append(_Raw(prompt, style, pid, where))
    return raws


def _parse_txt(path: Path, text: str) -> list[_Raw]:
    return [
        _Raw(line.strip(), None, None, f"line {n}")
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


_PARSERS = {".json": _parse_json, ".jsonl": _parse_jsonl, ".csv": _parse_csv, ".txt": _parse_txt}


def load_user_suite(path: str | Path, name: str | None = None) -> PromptSuite:
    """Read a prompt file (format chosen by its suffix) into a :class:`PromptSuite`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _PARSERS:
        raise UserError(
            f"prompt file {path}: unknown format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise UserError(f"prompt file {path} does not exist; check the path")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"byte {exc.start}", "not valid UTF-8", "save it as UTF-8") from None
    raws = _PARSERS[suffix](path, text)
    if not raws:
        raise _fail(path, "", "no prompts found", "add at least one prompt")

    items: list[PromptItem] = []
    next_index: dict[str, int] = {}
    seen: dict[str, str] = {}
    for raw in raws:
        if not raw.prompt.strip():
            raise _fail(path, raw.where, "empty prompt", "remove it or write the prompt text")
        style = raw.style if raw.style is not None else DEFAULT_STYLE
        if not _STYLE_RE.match(style):
            raise _fail(
                path,
                raw.where,
                f"style {style!r} cannot be used as a folder name",
                "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        index = next_index.get(style, 0)
        next_index[style] = index + 1
        pid = raw.id if raw.id is not None else make_prompt_id(style, index)
        if pid in seen:
            raise _fail(
                path,
                "",
                f"prompt id {pid!r} appears twice, at {seen[pid]} and at {raw.where}",
                "give every prompt a unique id",
            )
        seen[pid] = raw.where
        items.append(PromptItem(pid, style, index, raw.prompt))
    return PromptSuite(
        name or path.stem, tuple(items), hashlib.sha256(data).hexdigest(), source=str(path)
    )
