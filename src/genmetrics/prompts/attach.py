"""Attach a prompt to each image: a manifest file, sidecar ``.txt`` files, or a prompt suite.

- Manifest (``.jsonl``, ``.csv``, ``.json``): one record per image with ``image`` (a path or an
  id, relative to the image source) and ``prompt``; optional ``style``, ``seed``, ``prompt_id``.
- Sidecars: ``photo.png`` + ``photo.txt`` beside it (used when no manifest is given).
- A suite (``hpdv2`` or a suite file): the HPSv2 layout ``STYLE/00042.png`` → prompt 00042 of
  that style; ``STYLE/00042_k1.png`` (second sample of that prompt) maps to the same prompt.

An image without a prompt, or a manifest row without an image, is an error naming both sides,
unless ``allow_missing`` is set: then they are skipped and counted, never dropped silently.
Two manifest rows for the same image (same path without extension) are an error naming the
file and both rows (line numbers in ``.jsonl`` and ``.csv``), and so is a key repeated in one
JSON object. CSV is read with the ``csv`` module over the whole file, so a quoted prompt that
spans lines keeps its text exactly, newlines included.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from genmetrics.errors import UserError
from genmetrics.sources.items import ImageItem
from genmetrics.suites.model import PromptSuite

SAMPLE_SUFFIX = re.compile(r"^(?P<prompt>.+?)_k(?P<sample>\d+)$")


@dataclass(frozen=True)
class PromptRecord:
    prompt: str
    style: str | None = None
    prompt_id: str | None = None
    seed: int | None = None
    extra: tuple[tuple[str, str], ...] = ()
    """Other manifest fields (e.g. ``source_image``, ``source_prompt``, ``label``)."""

    def get(self, key: str) -> str | None:
        return dict(self.extra).get(key)


@dataclass
class PromptAssignment:
    """Items that have prompts, their records (aligned), and what was skipped."""

    items: list[ImageItem]
    records: list[PromptRecord]
    images_without_prompt: list[str] = field(default_factory=list)
    prompts_without_image: list[str] = field(default_factory=list)

    @property
    def prompts(self) -> list[str]:
        return [r.prompt for r in self.records]


def prompt_id_of(image_id: str) -> tuple[str, int]:
    """``anime/00042_k1`` → (``anime/00042``, 1); ``anime/00042`` → (``anime/00042``, 0)."""
    m = SAMPLE_SUFFIX.match(image_id)
    return (m["prompt"], int(m["sample"])) if m else (image_id, 0)


def _norm_key(value: str) -> str:
    p = PurePosixPath(value.replace("\\", "/"))
    return str(p.with_suffix("")) if p.suffix else str(p)


def _no_duplicate_keys(path: Path):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise UserError(f"{path}: key {key!r} appears twice in one JSON object; keep one")
            out[key] = value
        return out

    return hook


def _manifest_rows(path: Path, text: str) -> list[tuple[str, object]]:
    """``(where, row)`` of each record: ``line N`` (.jsonl, .csv) or ``record N`` (.json)."""
    suffix = path.suffix.lower()
    rows: list[tuple[str, object]] = []
    if suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"line {n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path}: line {n} is not valid JSON ({exc.msg}); fix it") from None
    elif suffix == ".json":
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys(path))
        if isinstance(data, dict):
            data = [{"image": k, "prompt": v} if isinstance(v, str) else {"image": k, **v}
                    for k, v in data.items()]
        if not isinstance(data, list):
            raise UserError(f"{path}: a JSON manifest is a list of records or an image -> prompt object")
        rows = [(f"record {n}", row) for n, row in enumerate(data, 1)]
    elif suffix == ".csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        last = 0
        for cells in reader:
            start, last = last + 1, reader.line_num
            if not cells:
                continue
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if len(cells) > len(header):
                raise UserError(f"{path}: line {start} has more cells than header columns; quote cells with commas")
            rows.append((f"line {start}", dict(zip(header, cells, strict=False))))
    else:
        raise UserError(f"{path}: prompt manifests are .jsonl, .csv or .json")
    return rows


def read_manifest(path: Path) -> dict[str, PromptRecord]:
    """Records keyed by normalised image key (path without extension, POSIX)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    try:
        rows = _manifest_rows(path, text)
    except (json.JSONDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot parse ({exc}); fix the file") from None
    out: dict[str, PromptRecord] = {}
    where_of: dict[str, str] = {}
    for where, row in rows:
        if not isinstance(row, dict):
            raise UserError(f"{path}: {where} is not an object with 'image' and 'prompt'")
        image = row.get("image") or row.get("path") or row.get("file") or row.get("id")
        prompt = row.get("prompt") or row.get("caption") or row.get("text")
        if not image or prompt is None:
            raise UserError(f"{path}: {where} needs 'image' and 'prompt' fields")
        key = _norm_key(str(image))
        if key in out:
            raise UserError(
                f"{path}: image {key!r} is listed twice, at {where_of[key]} and at {where}; "
                "keep one row per image"
            )
        seed = row.get("seed")
        known = {"image", "path", "file", "id", "prompt", "caption", "text", "style", "prompt_id", "seed"}
        extra = tuple(sorted((str(k), str(v)) for k, v in row.items() if k not in known and v not in (None, "")))
        try:
            seed = int(seed) if seed not in (None, "") else None
        except (TypeError, ValueError):
            raise UserError(f"{path}: {where}: seed {seed!r} is not an integer") from None
        out[key] = PromptRecord(
            str(prompt), row.get("style") or None, row.get("prompt_id") or None, seed, extra
        )
        where_of[key] = where
    return out


def _finish(items, found: dict[str, PromptRecord], leftovers: list[str], origin: str,
            allow_missing: bool) -> PromptAssignment:
    kept = [i for i in items if i.id in found]
    missing = [i.location for i in items if i.id not in found]
    if (missing or leftovers) and not allow_missing:
        parts = []
        if missing:
            parts.append(f"{len(missing)} image(s) have no prompt in {origin} (first: {missing[0]})")
        if leftovers:
            parts.append(f"{len(leftovers)} prompt(s) in {origin} have no image (first: {leftovers[0]})")
        raise UserError("; ".join(parts) + "; fix them or pass --allow-missing to skip and count them")
    kept = [dataclasses.replace(i, prompt=found[i.id].prompt) for i in kept]
    return PromptAssignment(kept, [found[i.id] for i in kept], missing, leftovers)


def attach_prompts(
    items: Sequence[ImageItem],
    prompts: str | Path | PromptSuite | None,
    *,
    allow_missing: bool = False,
    suite_names: Sequence[str] = ("hpdv2",),
) -> PromptAssignment:
    """Match every image to its prompt (see module docstring)."""
    items = list(items)
    if prompts is None:
        found: dict[str, PromptRecord] = {}
        for item in items:
            side = Path(item.location).with_suffix(".txt")
            if side.is_file():
                found[item.id] = PromptRecord(side.read_text(encoding="utf-8").strip())
        return _finish(items, found, [], "sidecar .txt files", allow_missing)
    if isinstance(prompts, PromptSuite):
        return _from_suite(items, prompts, allow_missing)
    source = str(prompts)
    path = Path(source)
    if path.suffix.lower() in (".jsonl", ".csv", ".json") and path.is_file() and not _is_suite_file(path):
        records = read_manifest(path)
        by_item: dict[str, PromptRecord] = {}
        ids = {i.id for i in items}
        for item in items:
            rec = records.get(item.id) or records.get(_norm_key(Path(item.location).name))
            if rec is None:
                rec = records.get(_norm_key(item.location))
            if rec is not None:
                by_item[item.id] = rec
        used = {k for k in records if k in ids}
        used |= {_norm_key(Path(i.location).name) for i in items if i.id in by_item}
        used |= {_norm_key(i.location) for i in items if i.id in by_item}
        leftovers = [k for k in records if k not in used]
        return _finish(items, by_item, leftovers, source, allow_missing)
    if source in suite_names or path.is_file():
        from genmetrics.suites.registry import load_suite

        return _from_suite(items, load_suite(source), allow_missing)
    raise UserError(f"{source}: not a prompt manifest (.jsonl/.csv/.json), suite file or suite name")


def _from_suite(items: list[ImageItem], suite: PromptSuite, allow_missing: bool) -> PromptAssignment:
    """HPSv2 layout: ``STYLE/00042[_kJ]`` → prompt ``STYLE/00042`` of the suite."""
    found: dict[str, PromptRecord] = {}
    covered: set[str] = set()
    for item in items:
        pid, _ = prompt_id_of(item.id)
        try:
            p = suite.by_id(pid)
        except (KeyError, UserError):
            continue
        found[item.id] = PromptRecord(p.prompt, p.style, p.id)
        covered.add(pid)
    leftovers = [p.id for p in suite.items if p.id not in covered]
    return _finish(items, found, leftovers, f"suite {suite.name}", allow_missing)


def _is_suite_file(path: Path) -> bool:
    """A JSON file of plain prompt strings (a suite), rather than an image→prompt manifest."""
    if path.suffix.lower() != ".json":
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if isinstance(data, list):
        return all(isinstance(x, str) for x in data)
    return isinstance(data, dict) and all(isinstance(v, list) for v in data.values())
