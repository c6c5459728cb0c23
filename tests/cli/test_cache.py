"""``genmetrics cache info|check|clear`` and one-line errors for a damaged or unusable cache."""

import sqlite3

import pytest

from genmetrics.cli.app import main
from tests.fakes import write_images


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 8, seed=1)
    write_images(tmp_path / "real", 8, seed=2)
    return tmp_path / "gen", tmp_path / "real"


def _evaluate(sets, *extra):
    gen, real = sets
    return main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "-f", "json", *extra])


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_database_is_one_line_naming_the_fix(
    sets, fake_backbone, capsys, _isolated_home, damage
):
    db = _isolated_home / "features.sqlite"
    if damage == "garbage":
        db.write_bytes(b"\x00garbage\xff" * 500)
    else:
        assert _evaluate(sets) == 0
        with open(db, "r+b") as f:
            f.truncate(db.stat().st_size // 2)
    capsys.readouterr()
    assert _evaluate(sets) == 2
    line = _one_error_line(capsys)
    assert f"the feature cache {db} is corrupt (" in line
    assert "'genmetrics cache check'" in line and "'genmetrics cache clear'" in line
    # check reports it (exit 1); clear works on the corrupt file; then evaluate runs again
    assert main(["cache", "check"]) == 1
    assert "damaged" in capsys.readouterr().out
    assert main(["cache", "clear", "--yes"]) == 0
    assert not db.exists() and _evaluate(sets) == 0


def test_check_finds_a_flipped_blob_repairs_it_and_clear_removes_all(
    sets, fake_backbone, capsys, tmp_path
):
    cache = tmp_path / "c"
    assert _evaluate(sets, "--cache-dir", str(cache)) == 0
    db = cache / "features.sqlite"
    assert main(["cache", "check", "--cache-dir", str(cache)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("ok")
    conn = sqlite3.connect(db)
    (data,) = conn.execute("SELECT data FROM features LIMIT 1").fetchone()
    flipped = bytes([data[0] ^ 1]) + data[1:]
    conn.execute("UPDATE features SET data = ? WHERE data = ?", (flipped, data))
    conn.commit()
    conn.close()
    assert main(["cache", "check", "--cache-dir", str(cache)]) == 1
    out = capsys.readouterr().out
    assert "integrity: ok" in out and "features: 32 checked, 1 bad" in out and "--repair" in out
    assert main(["cache", "check", "--repair", "--cache-dir", str(cache)]) == 0
    assert "deleted 1 bad row" in capsys.readouterr().out
    assert main(["cache", "check", "--cache-dir", str(cache)]) == 0
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"path: {db}" in out and "fake-pixels/v1|decode-r" in out and "31 rows" in out
    assert main(["cache", "clear", "--cache-dir", str(cache)]) == 2  # no prompt without a tty
    assert "--yes" in _one_error_line(capsys)
    (cache / "features.sqlite-wal").write_bytes(b"")  # side files go with it
    assert main(["cache", "clear", "--yes", "--cache-dir", str(cache)]) == 0
    assert list(cache.iterdir()) == []
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    assert "no feature cache" in capsys.readouterr().out


def test_unusable_cache_location_is_one_line_naming_the_fix(
    sets, fake_backbone, capsys, tmp_path, monkeypatch
):
    home = tmp_path / "home-is-a-file"  # as root, chmod cannot make a folder read-only
    home.write_text("")
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    assert _evaluate(sets) == 2
    line = _one_error_line(capsys)
    assert "cannot create the feature cache folder" in line and "--cache-dir" in line
    assert "--no-cache" in line
    assert _evaluate(sets, "--no-cache") == 0
    capsys.readouterr()
    (tmp_path / "c" / "features.sqlite").mkdir(parents=True)  # nothing SQLite can open
    assert _evaluate(sets, "--cache-dir", str(tmp_path / "c")) == 2
    assert "cannot open the feature cache" in _one_error_line(capsys)


def test_newer_layout_is_one_line(sets, fake_backbone, capsys, _isolated_home):
    assert _evaluate(sets) == 0
    conn = sqlite3.connect(_isolated_home / "features.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    capsys.readouterr()
    assert _evaluate(sets) == 2
    assert "newer genmetrics" in _one_error_line(capsys)


def test_info_lists_stored_set_statistics_and_warm_runs_agree(
    sets, fake_backbone, capsys, tmp_path, monkeypatch
):
    import json

    from genmetrics.features import set_stats

    monkeypatch.setattr(set_stats, "MIN_ROWS", 4)
    cache = tmp_path / "c"
    values = []
    for _ in range(2):
        assert _evaluate(sets, "--cache-dir", str(cache)) == 0
        values.append(json.loads(capsys.readouterr().out)["metrics"]["fid"]["value"])
    assert values[0] == values[1]
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "feature rows: 32" in out and "statistics of whole image sets" in out
    assert "fake-pixels/v1|decode-r" in out and ": 2 sets, " in out
