"""The one atomic writer: files and output folders appear whole or not at all.

- :func:`atomic_write` writes a file under a temporary name in the same folder and renames
  it over the target, so readers never see a half-written file.
- :func:`output_folder` builds a set of files (``summary.json``, tables…) in a temporary
  folder beside the target and renames it into place as a whole.
- Files get the permissions of the user's umask (``0666 & ~umask``), not the ``0600`` of
  :func:`tempfile.mkstemp`.
- Temporary names carry the writer's process id. A writer killed with ``kill -9`` cannot clean
  up, so every later write into the same folder first removes the leftovers of writers that
  are no longer running.
- Output paths are checked before any heavy work (:func:`check_output_folder`,
  :func:`check_output_file`): a mistake costs one line, not an hour of compute.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from genmetrics.errors import UserError

_TMP = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.(?:tmp|partial)$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def umask_mode(path: str | os.PathLike, folder: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open``/``mkdir`` would: ``0666 & ~umask``
    (``0777`` for a folder), e.g. after a library created it ``0600``."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def _tmp_name(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(folder: Path) -> None:
    """Remove temporary files and folders of writers that died in ``folder``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TMP.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _writable_parent(path: Path, what: str) -> Path:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{what} {path}: {parent} is a file, not a folder") from None
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot create {parent} ({exc.strerror or exc})") from None
    return parent


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file over ``path``."""
    path = Path(path)
    parent = _writable_parent(path, "cannot write")
    sweep_leftovers(parent)
    tmp = _tmp_name(path, "tmp")
    try:
        write(str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, IsADirectoryError):
            raise UserError(f"cannot write {path}: it is a folder; name a file") from None
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise UserError(f"cannot write {path} ({exc.strerror or exc})") from None
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``data`` to ``path``, flushed to disk before the rename (survives a power cut)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; when the block succeeds it replaces ``path`` as a whole.

    A folder that holds only an earlier set (named in its ``MARKER`` file) is swapped in one
    rename. If the user keeps other files there, nothing of theirs is touched: the new files
    are moved in one by one, each atomically, and files of the earlier set that the new one
    lacks are removed.
    """
    path = Path(path)
    check_output_folder(path)
    parent = _writable_parent(path, "cannot write")
    sweep_leftovers(parent)
    tmp = _tmp_name(path, "partial")
    try:
        tmp.mkdir()
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        _install_folder(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


MARKER = ".genmetrics-output"
"""Written in every output folder: the names of the files of the set, so that the next set
knows which files are ours to replace and which belong to the user."""


def _install_folder(tmp: Path, path: Path) -> None:
    new = sorted(p.name for p in tmp.iterdir())
    (tmp / MARKER).write_text("\n".join(new) + "\n")
    if not path.exists():
        os.rename(tmp, path)
        return
    try:
        ours = set((path / MARKER).read_text().split())
    except OSError:
        ours = set()
    ours |= set(new) | {MARKER}
    present = {p.name for p in path.iterdir()}
    if present <= ours:  # only an earlier set of ours (or nothing): swap the folder whole
        aside = _tmp_name(path, "partial")
        os.rename(path, aside)
        os.rename(tmp, path)
        shutil.rmtree(aside, ignore_errors=True)
        return
    for name in [*new, MARKER]:  # the user keeps other files here: replace ours one by one
        os.replace(tmp / name, path / name)
    for name in sorted((ours & present) - set(new) - {MARKER}):
        with contextlib.suppress(OSError):
            os.unlink(path / name)


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` can become an output folder: it is a folder or does not exist yet."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is an existing file; name a folder (it is created if missing)")
    _check_creatable(path, option)
    return path


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` can become an output file: not a folder, its parent creatable."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; name a file, e.g. {path / 'stats.npz'}")
    _check_creatable(path, option)
    return path


def _check_creatable(path: Path, option: str) -> None:
    for ancestor in path.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UserError(f"{option} {path}: {ancestor} is a file, not a folder")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise UserError(f"{option} {path}: {ancestor} is not writable")
            return
