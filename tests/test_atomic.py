"""The one atomic writer: permissions, whole output sets, leftovers of killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from genmetrics.atomic import (
    atomic_write_text,
    check_output_file,
    check_output_folder,
    output_folder,
)
from genmetrics.errors import UserError


def test_files_get_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_output_set_appears_whole_and_replaces_an_earlier_set(tmp_path):
    out = tmp_path / "res"
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text("1")
        (tmp / "per_image.csv").write_text("1")
        assert not out.exists()  # nothing visible until the set is complete
    assert sorted(p.name for p in out.iterdir()) == [".genmetrics-output", "per_image.csv", "summary.json"]
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [".genmetrics-output", "summary.json"]
    assert (out / "summary.json").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_a_users_other_files_in_the_folder_are_kept(tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text("1")
        (tmp / "per_image.csv").write_text("1")
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text("2")
    # the user's file stays; our stale per_image.csv from the earlier set goes
    assert sorted(p.name for p in out.iterdir()) == [".genmetrics-output", "notes.txt", "summary.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), output_folder(tmp_path / "res") as tmp:
        (tmp / "summary.json").write_text("1")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_kill_9_leftovers_are_removed_by_the_next_write(tmp_path):
    code = (
        "import time, sys\n"
        "from genmetrics.atomic import output_folder\n"
        f"with output_folder({str(tmp_path / 'res')!r}) as tmp:\n"
        "    (tmp / 'summary.json').write_text('partial')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial") and not (tmp_path / "res").exists()
    time.sleep(0.01)
    with output_folder(tmp_path / "res") as tmp:
        (tmp / "summary.json").write_text("done")
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_output_paths_are_checked_before_any_work(tmp_path):
    existing = tmp_path / "file.json"
    existing.write_text("x")
    with pytest.raises(UserError, match="is an existing file; name a folder"):
        check_output_folder(existing)
    with pytest.raises(UserError, match="is a folder; name a file"):
        check_output_file(tmp_path)
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_file(existing / "stats.npz")
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
