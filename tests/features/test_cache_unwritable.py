"""The cache is an accelerator (issue 17): a full disk warns once and the run finishes; a
read-only cache (file, folder or filesystem) is read and its rows are used; one cache object
serves a writer thread and a reading thread at once.

The full disk is SQLite's own SQLITE_FULL (``PRAGMA max_page_count`` on the run's
connection), the read-only cache a real ``mode=ro``/``immutable`` connection. We run as root,
whom permission bits do not stop: where the machine lets us mount, a real read-only tmpfs and
a real full tmpfs are used too."""

from __future__ import annotations

import shutil
import subprocess
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import genmetrics.features.cache as cache_module
from genmetrics import evaluate
from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache
from tests.fakes import PixelBackbone, write_images

NOT_CACHING = "continuing without caching new features"


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 10, seed=1)
    write_images(tmp_path / "real", 10, seed=2)
    return tmp_path / "gen", tmp_path / "real"


def _fid(sets, cache_dir=None, backbone=None):
    gen, real = sets
    return evaluate(gen, real, "fid", backbones={"inception": backbone or PixelBackbone()},
                    cache=cache_dir is not None, cache_dir=cache_dir, batch_size=4)


def _ours(caught) -> list[str]:
    return [str(w.message) for w in caught if NOT_CACHING in str(w.message)]


def _nearly_full(monkeypatch, spare_pages: int = 1) -> None:
    """Every cache connection of the run may grow by ``spare_pages`` pages only."""
    real_open = FeatureCache._open

    def nearly_full(self):
        real_open(self)
        conn = self._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")

    monkeypatch.setattr(FeatureCache, "_open", nearly_full)


def test_full_disk_warns_once_keeps_reading_and_stops_writing(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        cache.put_many("bb", [("h0", {"a": np.arange(4, dtype=np.float32)})])
        pages = cache._conn.execute("PRAGMA page_count").fetchone()[0]
        cache._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        big = [(f"h{i}", {"a": np.zeros(4096, np.float32)}) for i in range(1, 40)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache.put_many("bb", big)  # SQLITE_FULL: rolled back, warned, not raised
            cache.put_many("bb", big)
            cache.put_value("k", 1.0)
            cache.remember_hashes([("/x.png", (1, 2, 3, 4), "ab" * 32)])
        (message,) = _ours(caught)
        assert message.startswith(f"no space left for the feature cache {tmp_path / 'f.sqlite'} (")
        assert "full" in message and not cache.writable
        assert cache.count() == 1  # the failed batch was rolled back as a whole
        assert set(cache.get_many("bb", ["h0", "h1"], ["a"])) == {"h0"}


def test_full_disk_during_a_run_finishes_it_with_one_warning(sets, tmp_path, monkeypatch):
    before = _fid(sets)
    _nearly_full(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _fid(sets, tmp_path / "c")
    assert res["fid"] == before["fid"] and res.counts["generated"] == 10
    assert len(_ours(caught)) == 1  # all the cache objects of the run: one warning
    assert "database or disk is full" in _ours(caught)[0]


def test_readonly_inspection_still_refuses_writes(tmp_path):
    db = tmp_path / "f.sqlite"
    FeatureCache(db).close()
    with FeatureCache(db, readonly=True) as cache:
        with pytest.raises(UserError, match="not writable.*readonly"):
            cache.put_value("k", 2.0)


def _prefill(sets, cache_dir) -> float:
    backbone = PixelBackbone()
    fid = _fid(sets, cache_dir, backbone)["fid"]
    assert backbone.images == 20
    return fid


def test_read_only_cache_is_read_and_left_alone(sets, tmp_path, monkeypatch):
    """A cache that cannot be written (here: its location reported read-only) is opened with
    SQLite's ``mode=ro``: every cached row is used and nothing new is written."""
    cache_dir = tmp_path / "c"
    fid = _prefill(sets, cache_dir)
    db = cache_dir / "features.sqlite"
    rows, content = FeatureCache(db, readonly=True).count(), db.read_bytes()
    monkeypatch.setattr(cache_module, "unwritable_reason", lambda path: "read-only file system")
    write_images(sets[0], 12, seed=1)  # 2 more generated images than the cache knows
    backbone = PixelBackbone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _fid(sets, cache_dir, backbone)
    assert backbone.images == 2  # the 20 cached images came from the read-only cache
    assert res["fid"] == _fid(sets)["fid"] != fid
    (message,) = _ours(caught)
    assert f"the feature cache {db} is not writable (read-only file system)" in message
    assert db.read_bytes() == content and FeatureCache(db, readonly=True).count() == rows


def test_read_only_cache_of_an_older_layout_is_ignored(sets, tmp_path, monkeypatch):
    db = tmp_path / "c" / "features.sqlite"
    db.parent.mkdir()
    import sqlite3

    sqlite3.connect(db).close()  # an empty file: no tables, layout 0
    monkeypatch.setattr(cache_module, "unwritable_reason", lambda path: "read-only file system")
    with pytest.warns(UserWarning, match=NOT_CACHING):
        res = _fid(sets, tmp_path / "c")
    assert res["fid"] == _fid(sets)["fid"]


def test_one_cache_serves_a_writer_thread_and_a_reading_thread(tmp_path):
    """``put_many`` from a background writer while the main thread reads (the extraction's
    cache writer): no error, every row lands, reads see whole batches only."""
    cache = FeatureCache(tmp_path / "f.sqlite")
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for b in range(60):
                rows = [(f"h{b}-{i}", {"a": np.full(64, b, np.float32),
                                       "b": np.full(8, i, np.float32)}) for i in range(8)]
                cache.put_many("bb", rows)
                cache.remember_hashes([(f"/img{b}.png", (b, 1, 2, 3), f"{b:064x}")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    keys = [f"h{b}-{i}" for b in range(60) for i in range(8)]
    reads = 0
    while thread.is_alive():
        got = cache.get_many("bb", keys, ["a", "b"])
        assert len(got) % 8 == 0  # a batch is one transaction
        cache.known_hashes({f"/img{b}.png": (b, 1, 2, 3) for b in range(60)})
        reads += 1
    thread.join()
    assert errors == [] and reads > 0
    assert len(cache.get_many("bb", keys, ["a", "b"])) == 60 * 8 == cache.count("bb") // 2
    cache.close()


# --- real filesystems, where this machine lets us mount ----------------------------------


def _mount_tmpfs(target: Path, size: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot run mount here")
    if proc.returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs")


@pytest.fixture
def mounted(tmp_path):
    target = tmp_path / "mnt"
    yield target
    subprocess.run(["umount", str(target)], capture_output=True, timeout=30)


def test_cache_on_a_read_only_filesystem_is_read(sets, tmp_path, mounted):
    """A real read-only filesystem: no ``-shm`` can be created, so the file is opened with
    ``immutable=1``; the pre-filled rows are used."""
    fid = _prefill(sets, tmp_path / "c")
    _mount_tmpfs(mounted, "4m")
    shutil.copy(tmp_path / "c" / "features.sqlite", mounted / "features.sqlite")
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True, timeout=30)
    backbone = PixelBackbone()
    with pytest.warns(UserWarning, match=f"not writable \\(read-only file system\\); {NOT_CACHING}"):
        res = _fid(sets, mounted, backbone)
    assert backbone.images == 0 and res["fid"] == fid
    assert sorted(p.name for p in mounted.iterdir()) == ["features.sqlite"]


def test_cache_on_a_full_filesystem_finishes_the_run(sets, mounted):
    """A real full disk (a 64 KiB tmpfs): the run finishes with the uncached numbers."""
    _mount_tmpfs(mounted, "64k")
    write_images(sets[0], 40, seed=1)
    backbone = PixelBackbone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _fid(sets, mounted, backbone)
    assert res["fid"] == _fid(sets)["fid"] and backbone.images == 50
    (message,) = _ours(caught)
    assert "full" in message
