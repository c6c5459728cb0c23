"""Built-in prompt suites shipped as package data, each file pinned by sha256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from genmetrics.errors import UserError
from genmetrics.suites.model import PromptItem, PromptSuite, make_prompt_id


@dataclass(frozen=True)
class BuiltinSuite:
    """A built-in suite: one JSON list of prompts per style under ``genmetrics/data/<folder>``."""

    name: str
    folder: str
    files: tuple[tuple[str, str, str], ...]  # (style, file name, sha256)
    description: str


HPDV2 = BuiltinSuite(
    name="hpdv2",
    folder="hpdv2",
    files=(
        ("anime", "anime.json", "6b38a479cc6f899866e9b7a8bf91f096b4afc6883b95275a61891327182b14ae"),
        (
            "concept-art",
            "concept-art.json",
            "530d057deafcb82c581e9d1be2ffcb98828fe99f0b54257414d2ab8a5cf2b83e",
        ),
        (
            "paintings",
            "paintings.json",
            "6570d39467e08b24b64e5b8a4177b0f61c525631121dc5a91fe2ab956eab4d5f",
        ),
        ("photo", "photo.json", "92a3c9a0f743f66eb87bd112cdda830d6bdb4c073c86021d53b74001fcb18052"),
    ),
    description="HPD v2 benchmark prompts (HPS v2; Wu et al. 2023), 800 per style, Apache-2.0",
)

BUILTIN_SUITES: dict[str, BuiltinSuite] = {HPDV2.name: HPDV2}


def _read_data(folder: str, filename: str) -> bytes:
    return (resources.files("genmetrics") / "data" / folder / filename).read_bytes()


def load_builtin(name: str, read: Callable[[str, str], bytes] = _read_data) -> PromptSuite:
    """Load a built-in suite, checking every file's sha256. ``read(folder, filename)`` returns
    a file's bytes (replaceable for tests)."""
    spec = BUILTIN_SUITES[name]
    items: list[PromptItem] = []
    digest_lines: list[str] = []
    for style, filename, expected in spec.files:
        try:
            data = read(spec.folder, filename)
        except FileNotFoundError:
            raise UserError(
                f"built-in suite {name!r}: data file genmetrics/data/{spec.folder}/{filename} is "
                "missing; reinstall genmetrics (pip install --force-reinstall genmetrics)"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise UserError(
                f"built-in suite {name!r}: genmetrics/data/{spec.folder}/{filename} has sha256 "
                f"{actual}, expected {expected}; the file was modified or corrupted, reinstall "
                "genmetrics (pip install --force-reinstall genmetrics)"
            )
        prompts = json.loads(data.decode("utf-8"))
        items.extend(
            PromptItem(make_prompt_id(style, i), style, i, str(p)) for i, p in enumerate(prompts)
        )
        digest_lines.append(f"{actual}  {filename}\n")
    combined = hashlib.sha256("".join(digest_lines).encode()).hexdigest()
    return PromptSuite(spec.name, tuple(items), combined, source=f"builtin:{spec.name}")
