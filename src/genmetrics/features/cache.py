"""Content-addressed feature cache in one SQLite file (WAL mode, no server).

Rows are keyed by (backbone key, image content sha256, output name). Writes happen in one
transaction per batch, so an interrupted run keeps every finished batch and a re-run resumes;
several processes may share the file (SQLite's locking; a busy timeout waits for writers).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    backbone TEXT NOT NULL,
    content TEXT NOT NULL,
    output TEXT NOT NULL,
    dtype TEXT NOT NULL,
    dim INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (backbone, content, output)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS derived (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
) WITHOUT ROWID;
"""


class FeatureCache:
    """Feature vectors by (backbone key, content hash, output)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=60.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()

    def get_many(
        self, backbone: str, contents: Sequence[str], outputs: Sequence[str]
    ) -> dict[str, dict[str, np.ndarray]]:
        """Rows found, as {content hash: {output: vector}}; only complete entries are returned."""
        found: dict[str, dict[str, np.ndarray]] = {}
        unique = list(dict.fromkeys(contents))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT content, output, dtype, data FROM features "
                    f"WHERE backbone = ? AND content IN ({marks})",
                    [backbone, *chunk],
                ).fetchall()
                for content, output, dtype, data in rows:
                    found.setdefault(content, {})[output] = np.frombuffer(data, dtype=dtype)
        wanted = set(outputs)
        return {c: v for c, v in found.items() if wanted.issubset(v)}

    def put_many(
        self, backbone: str, rows: Iterable[tuple[str, dict[str, np.ndarray]]]
    ) -> None:
        records = [
            (backbone, content, name, str(vec.dtype), int(vec.size), np.ascontiguousarray(vec).tobytes())
            for content, outputs in rows
            for name, vec in outputs.items()
        ]
        if not records:
            return
        with self._lock:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?)", records
                )

    def known_hashes(self, stats: dict[str, tuple[int, int]]) -> dict[str, str]:
        """sha256 of files whose (size, mtime_ns) are unchanged since they were last hashed."""
        found: dict[str, str] = {}
        paths = list(stats)
        with self._lock:
            for start in range(0, len(paths), 500):
                chunk = paths[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT path, size, mtime_ns, sha256 FROM file_hashes WHERE path IN ({marks})", chunk
                ).fetchall()
                for path, size, mtime_ns, digest in rows:
                    if stats[path] == (size, mtime_ns):
                        found[path] = digest
        return found

    def remember_hashes(self, rows: list[tuple[str, int, int, str]]) -> None:
        """Store (path, size, mtime_ns, sha256) of files just hashed."""
        if rows:
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", rows)

    def get_value(self, key: str) -> float | None:
        """A number derived purely from cached content (e.g. a Fréchet distance), by key."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM derived WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def put_value(self, key: str, value: float) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO derived VALUES (?, ?)", (key, float(value)))

    def count(self, backbone: str | None = None) -> int:
        with self._lock:
            if backbone is None:
                return self._conn.execute("SELECT COUNT(*) FROM features").fetchone()[0]
            return self._conn.execute(
                "SELECT COUNT(*) FROM features WHERE backbone = ?", (backbone,)
            ).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
