"""A cache location that cannot be used: one ``error:`` line naming it, exit code 2, before
any image goes through the backbone. (We run as root, so permission bits cannot make a folder
read-only: a regular file where a folder is expected, or a kernel file system, stands in.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes import PixelBackbone
from tests.robustness.conftest import Runner, Sets, assert_user_error


def test_home_is_a_regular_file(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = sets.root / "home-is-a-file"
    home.write_text("not a folder\n")
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    assert_user_error(cli(*sets.evaluate()), "home-is-a-file")
    assert fake_backbone.calls == 0
    assert home.read_text() == "not a folder\n"


def _read_only_location() -> Path:
    """A folder that cannot be created, even by root: sysfs refuses new entries."""
    candidate = Path("/sys/genmetrics-robustness-home")
    try:
        candidate.mkdir()
    except OSError:
        return candidate
    candidate.rmdir()
    pytest.skip("this machine lets us create folders in /sys")


def test_home_cannot_be_created(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _read_only_location()
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    assert_user_error(cli(*sets.evaluate()), str(home))
    assert fake_backbone.calls == 0


def test_home_below_dev_null(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENMETRICS_HOME", "/dev/null/genmetrics")
    assert_user_error(cli(*sets.evaluate()), "/dev/null")
    assert fake_backbone.calls == 0


def test_cache_database_is_garbage(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict reading: the damaged cache is named with the fix (delete it, or --no-cache),
    not silently rebuilt (that loses the cached work) nor a sqlite traceback."""
    home = sets.root / "home"
    home.mkdir()
    db = home / "features.sqlite"
    garbage = b"SQLite format 3\x00" + bytes(range(256)) * 64
    db.write_bytes(garbage)
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    assert_user_error(cli(*sets.evaluate()), "features.sqlite")
    assert fake_backbone.calls == 0
    assert db.read_bytes() == garbage


def test_cache_dir_is_a_file(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    target = sets.root / "cache-is-a-file"
    target.write_text("x\n")
    assert_user_error(cli(*sets.evaluate("--cache-dir", target)), "cache-is-a-file")
    assert fake_backbone.calls == 0


def test_out_below_a_file(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    blocker = sets.root / "plain-file"
    blocker.write_text("x\n")
    assert_user_error(cli(*sets.evaluate("--out", blocker / "results")), "plain-file")
    assert fake_backbone.calls == 0
    assert os.path.isfile(blocker)
