"""Content-addressed feature cache in one SQLite file (WAL mode, no server).

Rows are keyed by (backbone key, image content sha256, output name). Writes happen in one
transaction per batch, so an interrupted run keeps every finished batch and a re-run resumes;
several processes may share the file (SQLite's locking; a busy timeout waits for writers).

Nothing read back is trusted: every feature row, derived value and remembered file hash
carries a checksum that is verified on read; a row that fails it is a miss (recomputed and
overwritten) and is counted in :attr:`FeatureCache.corrupt_rows`. The checksums guard
against accidental damage (bad disks, torn copies, hand edits of one column), not against
someone with write access who recomputes them. An SQLite error while opening or reading
becomes one :class:`~genmetrics.errors.UserError` line that names the file and the fix.

The cache is an accelerator: a write that fails (a full disk, a read-only file or folder, a
lock held too long) warns once per file and process, and the run goes on without caching
new features. A cache that cannot be written (read-only file, folder or filesystem) is
opened read-only, and its rows are used (``immutable`` when SQLite cannot create the WAL
index beside it; nothing may write the file meanwhile).

One :class:`FeatureCache` may be used from several threads (e.g. ``put_many`` from a
background writer while the main thread reads): one lock serialises the connection.
"""

from __future__ import annotations

import math
import os
import shlex
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.cache_rows import (
    feature_checksum,
    file_checksum,
    row_vector,
    value_checksum,
    value_ok,
)

__all__ = [
    "CACHE_FILENAME", "SCHEMA_VERSION", "CacheCorruptError", "CheckReport", "FeatureCache",
    "cache_error", "cache_files", "check_shared_cache", "default_cache_path", "feature_checksum",
    "file_checksum", "filesystem_type", "unwritable_reason", "value_checksum",
]

SCHEMA_VERSION = 2
"""Layout of the file (``PRAGMA user_version``). Lower: the layout before checksums, whose
rows are dropped on first use (they cannot be verified); higher: refused with the fix."""
CACHE_FILENAME = "features.sqlite"
SIDE_FILES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the database; they belong to it and are deleted with it."""

_TABLES = (
    """CREATE TABLE IF NOT EXISTS features (
    backbone TEXT NOT NULL,
    content TEXT NOT NULL,
    output TEXT NOT NULL,
    dtype TEXT NOT NULL,
    dim INTEGER NOT NULL,
    data BLOB NOT NULL,
    checksum BLOB NOT NULL,
    PRIMARY KEY (backbone, content, output)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS derived (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID""",
)
_CHUNK = 500  # keys per IN (...) query, below SQLite's bound-parameter limit
_OUTPUTS_CHUNK = 400  # output names per query beside them (together still below 999)

T = TypeVar("T")


def default_cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir>/features.sqlite``, by default under ``$GENMETRICS_HOME``."""
    from genmetrics.weights.store import genmetrics_home

    return Path(cache_dir or genmetrics_home()) / CACHE_FILENAME


NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
    "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "9p", "afs",
})
"""Filesystem types whose locking SQLite cannot rely on with several writers."""


def filesystem_type(path: str | os.PathLike, mounts: str = "/proc/mounts") -> str | None:
    """Type of the filesystem holding ``path`` (its nearest existing folder), from the
    longest matching mount point; ``None`` where the mount table cannot be read."""
    target, rest = Path(os.path.abspath(path)), []
    while not target.exists() and target != target.parent:  # links resolved where they exist
        rest.insert(0, target.name)
        target = target.parent
    target = target.resolve().joinpath(*rest)
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = str(target) == point or str(target).startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def check_shared_cache(path: str | os.PathLike) -> None:
    """Several processes will write the cache at ``path``: refuse a network filesystem."""
    kind = filesystem_type(Path(path).parent)
    if kind in NETWORK_FILESYSTEMS:
        raise UserError(
            f"the feature cache {path} is on a network filesystem ({kind}), where SQLite's "
            "locks are not safe for several writers; pass --cache-dir on a local disk of "
            "every node, or --no-cache"
        )


def unwritable_reason(path: Path) -> str | None:
    """Why SQLite could not write the cache at ``path`` (a read-only filesystem, a file or a
    folder without write permission: WAL mode creates files beside the database), or None."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        return None  # opening it says what is wrong
    if path.exists() and not os.access(path, os.W_OK):
        return "no write permission on the file"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "no write permission on its folder"
    return None


_UNWRITABLE: dict[Path, str] = {}
"""Caches of this process whose writes failed (path → why): warned about once, not retried."""
_UNWRITABLE_LOCK = threading.Lock()


def _warn_unwritable(path: Path, why: str, full: bool = False) -> None:
    """The one warning of this process about ``path`` not taking new features."""
    with _UNWRITABLE_LOCK:
        if path in _UNWRITABLE:
            return
        _UNWRITABLE[path] = why
    what = f"no space left for the feature cache {path}" if full else (
        f"the feature cache {path} is not writable")
    warnings.warn(f"{what} ({why}); continuing without caching new features", stacklevel=4)


def _write_failure(exc: BaseException) -> tuple[str, bool]:
    """(message, is a full disk) of a failed write."""
    msg = (str(exc).strip() or type(exc).__name__) if not isinstance(exc, OSError) else (
        exc.strerror or str(exc))
    full = "full" in msg.lower() or getattr(exc, "errno", None) == 28  # ENOSPC
    return msg, full


class CacheCorruptError(UserError):
    """The database file itself is damaged (not one row: the file or its structure)."""


def cache_command(path: Path, command: str) -> str:
    """``genmetrics cache <command>``, with ``--cache-dir`` when ``path`` is not the default."""
    extra = ""
    if path.name == CACHE_FILENAME and path != default_cache_path():
        extra = f" --cache-dir {shlex.quote(str(path.parent))}"
    return f"'genmetrics cache {command}{extra}'"


def _is_open_failure(exc: BaseException) -> bool:
    """SQLite could not open the file at all (not a failed write)."""
    low = str(exc).lower()
    return "unable to open" in low or "cannot open" in low


def cache_error(path: Path, exc: BaseException) -> UserError:
    """One line for an SQLite error on the cache at ``path``: what happened and the fix."""
    msg = str(exc).strip() or type(exc).__name__
    low = msg.lower()
    elsewhere = "pass --cache-dir DIR to use another folder, or --no-cache"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return UserError(f"the feature cache {path} is not writable ({msg}); {elsewhere}")
    if "unable to open" in low or "cannot open" in low:
        return UserError(
            f"cannot open the feature cache {path} ({msg}); check that its folder exists and is "
            f"writable, or {elsewhere}"
        )
    if "full" in low:
        return UserError(
            f"no space left for the feature cache {path} ({msg}); free disk space, or {elsewhere}"
        )
    if "locked" in low or "busy" in low:
        return UserError(
            f"the feature cache {path} stayed locked by another process ({msg}); retry when it "
            f"finishes, or {elsewhere}"
        )
    return CacheCorruptError(
        f"the feature cache {path} is corrupt ({msg}); run {cache_command(path, 'check')} to see "
        f"what is damaged or {cache_command(path, 'clear')} to rebuild it (features are "
        "recomputed)"
    )


@dataclass
class CheckReport:
    """What :meth:`FeatureCache.check` found."""

    integrity: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    repaired: int = 0

    @property
    def ok(self) -> bool:
        return not self.integrity and not any(self.bad.values())


class FeatureCache:
    """Feature vectors by (backbone key, content hash, output), verified on every read.

    ``readonly`` opens an existing file without changing it (no upgrade; a write is a
    :class:`UserError`), for inspection. Otherwise a cache that cannot be written is read
    (:attr:`writable` is False) and writes are skipped after one warning (module docstring).
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.version = SCHEMA_VERSION
        self._corrupt: set[tuple[str, ...]] = set()
        self._warned = False
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.writable = not readonly
        """False once writes are skipped: opened read-only, or a write failed."""
        self._usable = True  # False: nothing to read either (a read-only file of no layout)
        if readonly:
            if not self.path.is_file():
                raise UserError(f"no feature cache at {self.path}")
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(
                    f"cannot create the feature cache folder {self.path.parent} "
                    f"({exc.strerror or exc}); pass --cache-dir DIR to use another folder, "
                    "or --no-cache"
                ) from None
        try:
            self._run(self._open)
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        why = None if self.readonly else (
            _UNWRITABLE.get(self.path) or unwritable_reason(self.path))
        if self.readonly or (why is not None and self.path.is_file()):
            self._open_readonly()
            if why is not None:  # a run: its rows are used, new ones are not kept
                self.writable = False
                _warn_unwritable(self.path, why)
                if self.version != SCHEMA_VERSION:
                    self._usable = False  # an empty or older file: nothing verifiable
            return
        self._conn = sqlite3.connect(
            str(self.path), timeout=60.0, check_same_thread=False, isolation_level=None
        )
        conn = self._conn
        self.version = conn.execute("PRAGMA user_version").fetchone()[0]
        self._check_version()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if self.version != SCHEMA_VERSION:
                self._transaction(self._upgrade)
        except sqlite3.Error as exc:  # e.g. a full disk: read what there is, write nothing
            if _is_open_failure(exc):
                raise
            self.writable = False
            self._usable = self.version == SCHEMA_VERSION
            _warn_unwritable(self.path, *_write_failure(exc))

    def _open_readonly(self) -> None:
        """``mode=ro``; ``immutable`` where SQLite cannot create the WAL index (a read-only
        folder or filesystem), so no lock is taken and nothing is written beside the file."""
        base = self.path.resolve().as_uri()
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(base + query, uri=True, timeout=60.0,
                                   check_same_thread=False, isolation_level=None)
            try:
                self.version = conn.execute("PRAGMA user_version").fetchone()[0]
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                conn.close()
                if query.endswith("immutable=1") or not _is_open_failure(exc):
                    raise
                continue
            self._conn = conn
            break
        self._check_version()

    def _check_version(self) -> None:
        if self.version > SCHEMA_VERSION:
            raise UserError(
                f"the feature cache {self.path} was written by a newer genmetrics (layout "
                f"version {self.version}; this one reads up to {SCHEMA_VERSION}); upgrade "
                f"genmetrics, run {cache_command(self.path, 'clear')} to rebuild it, or pass "
                "--cache-dir DIR to keep a separate cache"
            )

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Create the tables; a file of an older layout loses its rows (they carry no
        checksum, so they cannot be told from damaged ones: recomputing is the safe choice)."""
        self.version = conn.execute("PRAGMA user_version").fetchone()[0]  # under the lock now
        self._check_version()
        if self.version == SCHEMA_VERSION:
            return  # another process upgraded it meanwhile
        for table in ("features", "derived", "file_hashes"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in _TABLES:
            conn.execute(ddl)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.version = SCHEMA_VERSION

    def _run(self, fn: Callable[[], T]) -> T:
        """Every SQLite call goes through here: its errors become one UserError line."""
        try:
            return fn()
        except sqlite3.Error as exc:
            raise cache_error(self.path, exc) from None

    def _transaction(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            fn(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _write(self, sql: str, rows: list[tuple]) -> None:
        """One transaction; a failure (full disk, read-only, locked too long) warns once and
        stops the writes of this cache, except when opened ``readonly`` (a UserError)."""
        if not rows or not (self.writable or self.readonly):
            return
        with self._lock:
            if self._conn is None:
                raise RuntimeError(f"the feature cache {self.path} is closed")
            try:
                self._transaction(lambda conn: conn.executemany(sql, rows))
            except (sqlite3.Error, OSError) as exc:
                if self.readonly:
                    raise cache_error(self.path, exc) from None
                self.writable = False
                _warn_unwritable(self.path, *_write_failure(exc))

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if not self._usable:
            return []
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError(f"the feature cache {self.path} is closed")
            return self._run(lambda: conn.execute(sql, params).fetchall())

    def _damaged(self, *key: str) -> None:
        """Count a row that failed its check; the first one of a cache also warns."""
        self._corrupt.add(key)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"the feature cache {self.path} has damaged entries; they are ignored and "
                f"recomputed (run {cache_command(self.path, 'check')} to see the rest)",
                stacklevel=3,
            )

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def corrupt_rows(self) -> int:
        """Distinct rows read from this cache that failed their checksum (each was a miss)."""
        return len(self._corrupt)

    def get_many(
        self, backbone: str, contents: Sequence[str], outputs: Sequence[str]
    ) -> dict[str, dict[str, np.ndarray]]:
        """Rows found and verified, as {content hash: {output: vector}} with exactly
        ``outputs``; only complete entries are returned (other outputs are not read). A
        damaged row is left out (a miss) and counted."""
        found: dict[str, dict[str, np.ndarray]] = {}
        unique = list(dict.fromkeys(contents))
        names = list(dict.fromkeys(outputs))
        for start, first in ((s, o) for o in range(0, len(names), _OUTPUTS_CHUNK)
                             for s in range(0, len(unique), _CHUNK)):
            chunk, which = unique[start : start + _CHUNK], names[first : first + _OUTPUTS_CHUNK]
            rows = self._query(
                f"SELECT content, output, dtype, dim, data, checksum FROM features "
                f"WHERE backbone = ? AND output IN ({','.join('?' * len(which))}) "
                f"AND content IN ({','.join('?' * len(chunk))})",
                [backbone, *which, *chunk],
            )
            for content, *row in rows:
                vec = row_vector(backbone, content, tuple(row))
                if vec is None:
                    self._damaged("features", backbone, content, str(row[0]))
                else:
                    found.setdefault(content, {})[row[0]] = vec
        wanted = set(outputs)
        return {c: v for c, v in found.items() if wanted.issubset(v)}

    def put_many(self, backbone: str, rows: Iterable[tuple[str, dict[str, np.ndarray]]]) -> None:
        """Store (content hash, {output: vector}) rows, replacing what was there."""
        records = []
        for content, outputs in rows:
            for name, vec in outputs.items():
                arr = np.ascontiguousarray(vec).reshape(-1)
                data, dtype, dim = arr.tobytes(), str(arr.dtype), int(arr.size)
                checksum = feature_checksum(backbone, content, name, dtype, dim, data)
                records.append((backbone, content, name, dtype, dim, data, checksum))
        self._write("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?)", records)

    def known_hashes(self, stats: dict[str, tuple[int, ...]]) -> dict[str, str]:
        """sha256 of files whose (size, mtime_ns, inode, ctime_ns) are unchanged since they
        were last hashed; a file replaced by one of the same size and mtime is hashed anew."""
        found: dict[str, str] = {}
        paths = list(stats)
        for start in range(0, len(paths), _CHUNK):
            chunk = paths[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT path, size, mtime_ns, inode, ctime_ns, sha256, checksum "
                f"FROM file_hashes WHERE path IN ({marks})",
                chunk,
            )
            for path, *stat, digest, checksum in rows:
                if checksum != file_checksum(path, stat, digest):
                    self._damaged("file_hashes", path)
                elif tuple(stats[path]) == tuple(stat):
                    found[path] = digest
        return found

    def remember_hashes(self, rows: Iterable[tuple[str, Sequence[int], str]]) -> None:
        """Store (path, (size, mtime_ns, inode, ctime_ns), sha256) of files just hashed."""
        records = [
            (path, *map(int, stat), digest, file_checksum(path, [int(s) for s in stat], digest))
            for path, stat, digest in rows
            if len(stat) == 4
        ]
        self._write("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?, ?)", records)

    def get_value(self, key: str) -> float | None:
        """A number derived purely from cached content (e.g. a Fréchet distance), by key;
        None when absent or when its checksum fails (the caller recomputes it)."""
        rows = self._query("SELECT value, checksum FROM derived WHERE key = ?", (key,))
        if not rows:
            return None
        value, checksum = rows[0]
        if not value_ok(key, value, checksum):
            self._damaged("derived", key)
            return None
        return float(value)

    def put_value(self, key: str, value: float) -> None:
        """Remember a derived number (NaN is not stored: SQLite cannot hold it)."""
        value = float(value)
        if math.isnan(value):
            return
        self._write(
            "INSERT OR REPLACE INTO derived VALUES (?, ?, ?)",
            [(key, value, value_checksum(key, value))],
        )

    def count(self, backbone: str | None = None) -> int:
        if backbone is None:
            rows = self._query("SELECT COUNT(*) FROM features")
        else:
            rows = self._query("SELECT COUNT(*) FROM features WHERE backbone = ?", (backbone,))
        return rows[0][0] if rows else 0

    def contents(self, backbone: str) -> int:
        """Distinct content keys with rows under ``backbone``."""
        rows = self._query("SELECT COUNT(DISTINCT content) FROM features WHERE backbone = ?",
                           (backbone,))
        return rows[0][0] if rows else 0

    def summary(self) -> dict[str, object]:
        """Rows per backbone key ({key: (rows, bytes)}), derived values and file hashes."""
        per = self._query(
            "SELECT backbone, COUNT(*), COALESCE(SUM(length(data)), 0) FROM features "
            "GROUP BY backbone ORDER BY backbone"
        )
        return {
            "backbones": {b: (n, size) for b, n, size in per},
            "derived": self._query("SELECT COUNT(*) FROM derived")[0][0],
            "file_hashes": self._query("SELECT COUNT(*) FROM file_hashes")[0][0],
        }

    def check(self, repair: bool = False) -> CheckReport:
        """``PRAGMA integrity_check`` and every checksum; ``repair`` deletes damaged rows."""
        report = CheckReport()
        lines = [r[0] for r in self._query("PRAGMA integrity_check")]
        report.integrity = [] if lines == ["ok"] else [str(x) for x in lines]
        bad: dict[str, list[tuple]] = {"features": [], "derived": [], "file_hashes": []}
        with self._lock:
            conn = self._conn
            assert conn is not None

            def scan() -> None:
                rows = conn.execute(
                    "SELECT backbone, content, output, dtype, dim, data, checksum FROM features"
                )
                n = 0
                for backbone, content, *row in rows:
                    n += 1
                    if row_vector(backbone, content, tuple(row)) is None:
                        bad["features"].append((backbone, content, row[0]))
                report.checked["features"] = n
                n = 0
                for key, value, checksum in conn.execute("SELECT * FROM derived"):
                    n += 1
                    if not value_ok(key, value, checksum):
                        bad["derived"].append((key,))
                report.checked["derived"] = n
                n = 0
                for path, *stat, digest, checksum in conn.execute("SELECT * FROM file_hashes"):
                    n += 1
                    if checksum != file_checksum(path, stat, digest):
                        bad["file_hashes"].append((path,))
                report.checked["file_hashes"] = n

            self._run(scan)
        report.bad = {table: len(keys) for table, keys in bad.items()}
        if repair and any(bad.values()):
            where = {
                "features": "backbone = ? AND content = ? AND output = ?",
                "derived": "key = ?",
                "file_hashes": "path = ?",
            }

            def delete(conn: sqlite3.Connection) -> None:
                for table, keys in bad.items():
                    conn.executemany(f"DELETE FROM {table} WHERE {where[table]}", keys)

            with self._lock:
                self._run(lambda: self._transaction(delete))
            report.repaired = sum(report.bad.values())
        return report

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
                self._conn = None

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cache_files(path: Path) -> list[Path]:
    """The database file and the side files SQLite keeps beside it, those that exist."""
    candidates = [path, *(path.with_name(path.name + s) for s in SIDE_FILES)]
    return [p for p in candidates if p.exists() or p.is_symlink()]
