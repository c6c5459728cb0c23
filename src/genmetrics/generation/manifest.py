"""The run's files: ``generation.jsonl`` (one record per image) and ``generation.json``
(settings). Both are replaced atomically (temporary file then ``os.replace``); during a run
records are appended after each batch, and a torn last line (killed process) is ignored on
reading. The manifest is rebuilt from the images present at the start and end of each run."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genmetrics.errors import UserError

# Settings that decide the pixels: resuming into a folder made with other values is refused.
IDENTITY_KEYS = (
    ("pipeline", "id"),
    ("pipeline", "commit_hash"),
    ("pipeline", "model_index_sha256"),
    ("pipeline", "class"),
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
    ("hook",),
)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    write_text_atomic(path, "".join(_line(r) for r in records))


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
        raise UserError(
            f"{path} is not valid JSON; delete it (and the images beside it) or use another --out"
        ) from None
    return data if isinstance(data, dict) else None


def write_settings(path: Path, settings: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def _get(settings: dict[str, Any], key: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def check_resumable(out_dir: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    """Refuse to add images to a folder whose existing images were made with other settings."""
    if old is None:
        return
    diffs = [
        f"{'.'.join(key)}: {_get(old, key)!r} there, {_get(new, key)!r} now"
        for key in IDENTITY_KEYS
        if _get(old, key) != _get(new, key)
    ]
    if diffs:
        raise UserError(
            f"{out_dir} already holds images made with other settings ({'; '.join(diffs)}); "
            "use another output folder, or delete that folder to start again"
        )
