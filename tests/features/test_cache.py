import hashlib
import multiprocessing as mp
import os
import sqlite3
import time

import numpy as np
import pytest

from genmetrics import evaluate
from genmetrics.errors import UserError
from genmetrics.features.cache import (
    SCHEMA_VERSION,
    CacheCorruptError,
    FeatureCache,
    feature_checksum,
)
from tests.fakes import PixelBackbone, write_images


def test_roundtrip_and_partial_rows_are_not_returned(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        v = np.arange(5, dtype=np.float32)
        cache.put_many("bb", [("h1", {"a": v, "b": v * 2}), ("h2", {"a": v})])
        got = cache.get_many("bb", ["h1", "h2", "h3"], ["a", "b"])
        assert set(got) == {"h1"}
        np.testing.assert_array_equal(got["h1"]["b"], v * 2)
        assert cache.get_many("other", ["h1"], ["a"]) == {}


def _writer(path, start):
    with FeatureCache(path) as cache:
        for i in range(start, start + 50):
            cache.put_many("bb", [(f"h{i}", {"a": np.full(16, i, np.float32)})])


def test_two_processes_share_the_cache(tmp_path):
    path = tmp_path / "f.sqlite"
    FeatureCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 25)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with FeatureCache(path) as cache:
        assert cache.count("bb") == 75
        got = cache.get_many("bb", [f"h{i}" for i in range(75)], ["a"])
        assert all(got[f"h{i}"]["a"][0] == i for i in range(75))


# --- nothing read back is trusted (issue 11) ---------------------------------------------


def _sql(path, statement, params=()):
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 12, seed=1)
    write_images(tmp_path / "real", 12, seed=2)
    return tmp_path / "gen", tmp_path / "real"


def _fid(sets, cache_dir=None, **kw):
    gen, real = sets
    return evaluate(gen, real, "fid", backbones={"inception": PixelBackbone()},
                    cache=cache_dir is not None, cache_dir=cache_dir, **kw)


def test_poisoned_derived_fid_is_recomputed(sets, tmp_path):
    db = tmp_path / "c" / "features.sqlite"
    true = _fid(sets, tmp_path / "c")["fid"]
    assert _sql(db, "UPDATE derived SET value = 1.5") == []  # the poisoned value of the issue
    again = _fid(sets, tmp_path / "c")
    assert again["fid"] == true and again.counts["cache_corrupt_rows"] == 1
    assert any("damaged entries" in w for w in again.warnings)  # caught into the FID's warnings
    assert _fid(sets, tmp_path / "c").counts["cache_corrupt_rows"] == 0  # overwritten


def test_corrupt_feature_blob_is_a_miss_and_is_counted(sets, tmp_path):
    db = tmp_path / "c" / "features.sqlite"
    _fid(sets, tmp_path / "c")
    content, output, data = _sql(db, "SELECT content, output, data FROM features LIMIT 1")[0]
    flipped = bytearray(data)
    flipped[5] ^= 0x40
    _sql(db, "UPDATE features SET data = ? WHERE content = ? AND output = ?",
         (bytes(flipped), content, output))
    with pytest.warns(UserWarning, match="damaged entries"):
        res = _fid(sets, tmp_path / "c")
    assert res["fid"] == _fid(sets)["fid"]  # the uncached value: the corrupt bytes were not used
    assert res.counts["cache_corrupt_rows"] == 1
    assert res.counts["forwards"]["inception"] == 1  # only the damaged image was recomputed


def test_blob_of_the_wrong_length_is_rejected_even_with_a_matching_checksum(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        cache.put_many("bb", [("h1", {"a": np.arange(4, dtype=np.float32)})])
        short = np.arange(3, dtype=np.float32).tobytes()
        cache._conn.execute(  # a row written by a buggy writer: checksum right, dim wrong
            "UPDATE features SET data = ?, checksum = ?",
            (short, feature_checksum("bb", "h1", "a", "float32", 4, short)),
        )
        with pytest.warns(UserWarning):
            assert cache.get_many("bb", ["h1"], ["a"]) == {}
        assert cache.corrupt_rows == 1


def _png(path, seed):
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path, compress_level=0)


@pytest.mark.parametrize("how", ["replace", "in_place"])
def test_file_replaced_with_same_size_and_mtime_is_hashed_anew(tmp_path, how):
    gen, real = tmp_path / "gen", tmp_path / "real"
    gen.mkdir()
    for i in range(6):
        _png(gen / f"g{i}.png", i)
    write_images(real, 6, seed=2)
    first = _fid((gen, real), tmp_path / "c")
    target = gen / "g0.png"
    before = os.stat(target)
    _png(tmp_path / "new.png", 99)
    new = (tmp_path / "new.png").read_bytes()
    assert len(new) == before.st_size and new != target.read_bytes()
    if how == "replace":  # a new file moved over the old one: a new inode
        os.replace(tmp_path / "new.png", target)
    else:  # rewritten in place: same inode, a later ctime
        time.sleep(0.05)
        target.write_bytes(new)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert (after.st_ino, after.st_ctime_ns) != (before.st_ino, before.st_ctime_ns)
    res = _fid((gen, real), tmp_path / "c")
    row = next(r for r in res.per_image if r["path"].endswith("g0.png"))
    assert row["sha256"] == hashlib.sha256(new).hexdigest()
    assert res["fid"] == _fid((gen, real))["fid"] != first["fid"]


def test_known_hashes_match_size_mtime_inode_and_ctime(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        cache.remember_hashes([("/x.png", (10, 20, 30, 40), "ab" * 32)])
        assert cache.known_hashes({"/x.png": (10, 20, 30, 40)}) == {"/x.png": "ab" * 32}
        assert cache.known_hashes({"/x.png": (10, 20, 31, 40)}) == {}  # other inode
        assert cache.known_hashes({"/x.png": (10, 20, 30, 41)}) == {}  # other ctime
        cache._conn.execute("UPDATE file_hashes SET sha256 = ?", ("cd" * 32,))
        with pytest.warns(UserWarning):
            assert cache.known_hashes({"/x.png": (10, 20, 30, 40)}) == {}
        assert cache.corrupt_rows == 1


def test_old_layout_is_upgraded_by_dropping_its_unverifiable_rows(tmp_path):
    db = tmp_path / "f.sqlite"
    conn = sqlite3.connect(db)  # the layout before checksums, with a poisoned FID in it
    conn.executescript(
        "CREATE TABLE features (backbone TEXT, content TEXT, output TEXT, dtype TEXT, dim INTEGER,"
        " data BLOB, PRIMARY KEY (backbone, content, output)) WITHOUT ROWID;"
        "CREATE TABLE derived (key TEXT PRIMARY KEY, value REAL NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE file_hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " sha256 TEXT) WITHOUT ROWID;"
        "INSERT INTO derived VALUES ('fid/v1/x', 1.5);"
    )
    conn.execute("INSERT INTO features VALUES ('bb', 'h1', 'a', 'float32', 2, ?)",
                 (np.ones(2, np.float32).tobytes(),))
    conn.commit()
    conn.close()
    with FeatureCache(db) as cache:
        assert cache.version == SCHEMA_VERSION and cache.count() == 0
        assert cache.get_value("fid/v1/x") is None and cache.corrupt_rows == 0
        cache.put_value("fid/v1/x", 2.0)
        assert cache.get_value("fid/v1/x") == 2.0
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_newer_layout_is_refused_with_the_fix(tmp_path):
    db = tmp_path / "features.sqlite"
    FeatureCache(db).close()
    _sql(db, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UserError, match="newer genmetrics.*genmetrics cache clear.*--cache-dir"):
        FeatureCache(db)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_is_one_user_error(tmp_path, damage):
    db = tmp_path / "f.sqlite"
    with FeatureCache(db) as cache:
        cache.put_many("bb", [(f"h{i}", {"a": np.full(512, i, np.float32)}) for i in range(300)])
    if damage == "garbage":
        db.write_bytes(b"not a database at all " * 100)
    else:
        with open(db, "r+b") as f:
            f.truncate(db.stat().st_size // 2)
    with pytest.raises(CacheCorruptError) as info:
        with FeatureCache(db) as cache:
            cache.get_many("bb", [f"h{i}" for i in range(300)], ["a"])
    msg = str(info.value)
    assert "\n" not in msg and f"{db} is corrupt (" in msg
    assert "'genmetrics cache check'" in msg and "'genmetrics cache clear'" in msg


def test_unwritable_locations_are_one_user_error(tmp_path):
    db = tmp_path / "f.sqlite"
    with FeatureCache(db) as cache:
        cache.put_value("k", 1.0)
    with FeatureCache(db, readonly=True) as cache:  # a read-only file, even for root
        assert cache.get_value("k") == 1.0
        with pytest.raises(UserError, match="not writable.*readonly.*--cache-dir DIR.*--no-cache"):
            cache.put_value("k", 2.0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot create the feature cache folder"):
        FeatureCache(tmp_path / "file" / "f.sqlite")
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(UserError, match="cannot open the feature cache .*unable to open"):
        FeatureCache(tmp_path / "dir.sqlite")


def test_check_finds_and_repairs_damaged_rows(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        cache.put_many("bb", [(f"h{i}", {"a": np.full(8, i, np.float32)}) for i in range(5)])
        cache.put_value("k", 3.0)
        cache._conn.execute("UPDATE features SET data = zeroblob(32) WHERE content = 'h2'")
        cache._conn.execute("UPDATE derived SET value = 4.0")
        report = cache.check()
        assert not report.ok and report.integrity == []
        assert report.checked == {"features": 5, "derived": 1, "file_hashes": 0}
        assert report.bad == {"features": 1, "derived": 1, "file_hashes": 0}
        assert cache.check(repair=True).repaired == 2
        assert cache.check().ok and cache.count() == 4


def test_nan_is_not_stored(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        cache.put_value("k", float("nan"))
        assert cache.get_value("k") is None and cache.corrupt_rows == 0


def test_network_filesystems_are_refused_for_shared_writers(tmp_path):
    from genmetrics.errors import UserError
    from genmetrics.features.cache import check_shared_cache, filesystem_type

    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /mnt/shared nfs4 rw 0 0\n"
        "tmpfs /mnt/shared/local tmpfs rw 0 0\n"
    )
    assert filesystem_type("/mnt/shared/data/features.sqlite", str(mounts)) == "nfs4"
    assert filesystem_type("/mnt/shared/local/x", str(mounts)) == "tmpfs"  # longest match
    assert filesystem_type("/mnt/sharedother", str(mounts)) == "ext4"  # not a path prefix
    assert filesystem_type("/x", str(tmp_path / "absent")) is None
    check_shared_cache(tmp_path / "features.sqlite")  # the test's own disk is local

    import genmetrics.features.cache as cache_module

    real = cache_module.filesystem_type
    try:
        cache_module.filesystem_type = lambda path, mounts="/proc/mounts": "nfs4"
        with pytest.raises(UserError, match="network filesystem \\(nfs4\\).*--cache-dir"):
            check_shared_cache(tmp_path / "features.sqlite")
    finally:
        cache_module.filesystem_type = real
