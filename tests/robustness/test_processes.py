"""The few cases that need a real process: non-UTF-8 names on argv, ``kill -9`` in the middle
of writing results, and a cache that runs out of space. The fake backbone is patched in by the
``python -c`` wrapper of :func:`run_process` (about 2 s each)."""

from __future__ import annotations

import json
import os
import resource
import signal
from pathlib import Path

from tests.fakes import PixelBackbone, write_images
from tests.robustness.conftest import (
    N_GOOD,
    Runner,
    Sets,
    assert_no_traceback,
    assert_user_error,
    png_bytes,
    process_result,
    run_process,
)


def test_non_utf8_folder_on_argv(sets: Sets) -> None:
    folder = os.fsencode(sets.root) + b"/gen-\xff"
    os.mkdir(folder)
    for i in range(N_GOOD):
        with open(folder + f"/img{i:03d}.png".encode(), "wb") as f:
            f.write(png_bytes(seed=40 + i))
    with open(folder + b"/\xfe-broken.png", "wb") as f:
        f.write(b"not an image")
    res = process_result(
        run_process(["evaluate", folder, "-r", sets.real, "-m", "fid", "-f", "json"])
    )
    assert_no_traceback(res)
    assert res.code == 0, res.describe()
    assert not res.errors, res.describe()
    doc = res.json()
    assert doc["counts"]["generated"] == N_GOOD and doc["counts"]["generated_skipped"] == 1
    assert "\\xfe-broken.png" in doc["skipped"][0]["path"]
    assert any("\\xfe-broken.png" in w for w in res.warnings), res.describe()


def test_non_utf8_missing_path_on_argv(sets: Sets) -> None:
    missing = os.fsencode(sets.root) + b"/absent-\xff.png"
    res = process_result(run_process(["evaluate", missing, "-r", sets.real, "-m", "fid"]))
    assert_user_error(res, "absent-\\xff.png")


_KILL_WHILE_WRITING = """
import os, genmetrics.results.result as _r
def _die(path, rows):
    with open(path, "w") as f:
        f.write("id,pa")
        f.flush()
    os.kill(os.getpid(), 9)
_r.write_table = _die
"""


def test_kill_9_while_writing_results_keeps_the_previous_output(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    out = sets.root / "results"
    first = cli(*sets.evaluate("--out", out))
    assert first.code == 0, first.describe()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "summary.json" in before

    argv = sets.evaluate("--out", out, "-m", "fid,is", "--is-splits", "2")
    proc = run_process([str(a) for a in argv], extra=_KILL_WHILE_WRITING)
    assert proc.returncode == -signal.SIGKILL, process_result(proc).describe()
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before, "a killed writer changed the previous output folder"

    again = cli(*argv)
    assert again.code == 0, again.describe()
    assert set(json.loads((out / "summary.json").read_text())["metrics"]) == {"fid", "is"}
    leftovers = [p.name for p in sets.root.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"leftovers of the killed writer: {leftovers}"


def _small_files_only(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_cache_runs_out_of_space(sets: Sets, tmp_path: Path) -> None:
    """No file may grow past 48 KB (as on a full disk): the feature cache cannot be written.
    The cache is an accelerator: one warning naming the cache, the run finishes (exit 0) with
    the number, no sqlite traceback."""
    many = tmp_path / "many"
    write_images(many, 400, seed=5, size=(8, 8))
    home = tmp_path / "full-home"
    home.mkdir()
    proc = run_process(
        ["evaluate", many, "-r", sets.real, "-m", "fid"],
        env={"GENMETRICS_HOME": str(home)},
        preexec_fn=_small_files_only(48 * 1024),
        timeout=180,
    )
    res = process_result(proc)
    assert_no_traceback(res)
    assert res.code == 0 and not res.errors, res.describe()
    assert "fid" in res.out, res.describe()
    cache_warnings = [w for w in res.warnings if str(home) in w]
    assert len(cache_warnings) == 1 and "continuing without caching" in cache_warnings[0], res.describe()
