"""The run's files: ``generation.jsonl`` (one record per image) and ``generation.json``
(settings). Both are replaced atomically (temporary file then ``os.replace``); during a run
records are appended after each batch, and a torn last line (killed process) is ignored on
reading. A record is written only when an image is made, with the sha256 and size of its PNG,
just before the PNG is renamed into place (a killed run leaves listed images that are missing,
which are made again, never images that are not listed). At the start and end of each run the
manifest keeps the records whose image file exists."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genmetrics.atomic import atomic_write_text
from genmetrics.errors import UserError

# Settings that decide the pixels: resuming into a folder made with other values is refused.
IDENTITY_KEYS = (
    ("pipeline", "fingerprint"),
    ("pipeline", "variant"),
    ("pipeline", "class"),
    ("pipeline", "scheduler"),
    ("suite", "name"),
    ("suite", "source_sha256"),
    ("sampling", "steps"),
    ("sampling", "guidance"),
    ("sampling", "height"),
    ("sampling", "width"),
    ("sampling", "images_per_prompt"),
    ("dtype",),
    ("generator_device",),
    ("seed", "base"),
    ("seed", "policy"),
    ("layout",),
    ("hook", "function"),
    ("hook", "source_sha256"),
)
_LABELS = {
    ("pipeline", "fingerprint"): "the pipeline's weights and files",
    ("hook", "source_sha256"): "the hook's source file",
    ("hook", "function"): "the hook function",
}
FIX = (
    "generate into a new --out folder, or pass --restart to delete the images this tool made "
    "there and start again"
)


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records of ``generation.jsonl`` by image id; unreadable lines are skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                records[record["id"]] = record
    return records


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(_line(r) for r in records))


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    text = "".join(_line(r) for r in records)
    if not text:
        return
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_settings(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON; {FIX}") from None
    return data if isinstance(data, dict) else None


def write_settings(path: Path, settings: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def _get(settings: dict[str, Any], key: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _show(value: Any) -> str:
    """A setting for a one-line message; long hashes are cut to 16 hex digits."""
    if isinstance(value, str):
        kind, sep, digest = value.rpartition(":")
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return repr(f"{kind}{sep}{digest[:16]}…")
    return repr(value)


def check_resumable(out_dir: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    """Refuse to add images to a folder whose existing images were made with other settings."""
    if old is None:
        return
    diffs = []
    for key in IDENTITY_KEYS:
        before, now = _get(old, key), _get(new, key)
        if before != now:
            label = f" ({_LABELS[key]})" if key in _LABELS else ""
            diffs.append(f"{'.'.join(key)}{label}: {_show(before)} there, {_show(now)} now")
    if diffs:
        raise UserError(
            f"{out_dir} already holds images made with other settings ({'; '.join(diffs)}); {FIX}"
        )
