"""``genmetrics report DIR`` on a result folder that came from someone else (issue 17).

A result folder is untrusted input. Documented behaviour: thumbnails are read only inside the
result folder and the ``--image-root`` folders (real paths: ``..``, absolute paths, the
manifest's ``working_dir`` and symbolic links cannot lead out), any other image is a
placeholder saying why plus one ``warning:`` line; images are read within the decode limits
(header first, never a file whole); and whatever the folder holds ends in one ``error:`` line
naming the file, never a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fakes import PixelBackbone, patch_backbones, write_images
from tests.results.render.parse import check_self_contained
from tests.robustness.conftest import (
    N_GOOD,
    Runner,
    assert_no_traceback,
    assert_user_error,
    bomb_png,
)

SECRET_RGB = (201, 7, 133)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One evaluate result folder (per-image precision/density columns, relative paths),
    made once for the module; each test works on a copy."""
    from genmetrics.cli.app import main

    root = tmp_path_factory.mktemp("report-template")
    write_images(root / "gen", N_GOOD, seed=1)
    write_images(root / "real", N_GOOD, seed=2)
    bb = PixelBackbone()
    with pytest.MonkeyPatch.context() as mp:
        patch_backbones(mp, lambda name, opts: bb)
        mp.chdir(root)
        code = main(["evaluate", "gen", "-r", "real", "-m", "fid,precision,recall,density,coverage",
                     "--no-cache", "--out", "res"])
    assert code == 0
    (root / "res" / "report.html").unlink()
    return root


@pytest.fixture
def result(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    shutil.copytree(template, work)
    monkeypatch.chdir(work)
    return work / "res"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """An image outside every allowed folder: it must never become a thumbnail."""
    folder = tmp_path / "private"
    folder.mkdir()
    Image.new("RGB", (40, 30), SECRET_RGB).save(folder / "secret.png")
    return folder / "secret.png"


def _rows(folder: Path, stem: str = "per_image") -> list[dict[str, str]]:
    with open(folder / f"{stem}.csv", newline="") as f:
        return list(csv.DictReader(f))


def _set_paths(folder: Path, paths: list[str]) -> None:
    """Point the per-image rows of both sets (``per_image`` and, where coverage ran,
    ``per_image_reference``) at ``paths`` (cycled); the CSVs are what the report reads."""
    for stem in ("per_image", "per_image_reference"):
        if not (folder / f"{stem}.csv").is_file():
            continue
        (folder / f"{stem}.parquet").unlink(missing_ok=True)
        rows = _rows(folder, stem)
        for i, row in enumerate(rows):
            row["path"] = paths[i % len(paths)]
        with open(folder / f"{stem}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def _summary(folder: Path, edit: Callable[[dict], object]) -> None:
    data = json.loads((folder / "summary.json").read_text())
    edit(data)
    (folder / "summary.json").write_text(json.dumps(data))


def _report(cli: Runner, folder: Path, *extra: object):
    out = folder.parent / "shared.html"
    res = cli("report", folder, "--out", out, "--top", "6", *extra)
    html = out.read_text(encoding="utf-8") if out.exists() else ""
    return res, html


# ----------------------------------------------------------------- file disclosure


def _absolute(result: Path, secret: Path) -> list[str]:
    return [str(secret)]


def _dotdot(result: Path, secret: Path) -> list[str]:
    return [os.path.relpath(secret, result)]


def _working_dir(result: Path, secret: Path) -> list[str]:
    _summary(result, lambda d: d["manifest"].update(working_dir=str(secret.parent)))
    return [secret.name]


def _link_inside(result: Path, secret: Path) -> list[str]:
    (result / "innocent.png").symlink_to(secret)
    return ["innocent.png"]


def _linked_folder(result: Path, secret: Path) -> list[str]:
    (result / "thumbs").symlink_to(secret.parent, target_is_directory=True)
    return ["thumbs/secret.png"]


def _dotdot_through_inside(result: Path, secret: Path) -> list[str]:
    (result / "sub").mkdir()
    return ["sub/../../" + os.path.relpath(secret, result.parent)]


def _proc_root(result: Path, secret: Path) -> list[str]:
    return [f"/proc/self/root{secret}"]


DISCLOSURES = {
    "absolute-path": _absolute,
    "dotdot-path": _dotdot,
    "working-dir-from-summary": _working_dir,
    "symlink-inside-to-outside": _link_inside,
    "symlinked-folder": _linked_folder,
    "dotdot-through-a-subfolder": _dotdot_through_inside,
    "proc-self-root": _proc_root,
}


@pytest.mark.parametrize("case", list(DISCLOSURES), ids=list(DISCLOSURES))
def test_images_outside_the_result_folder_are_not_embedded(
    result: Path, secret: Path, cli: Runner, case: str
) -> None:
    _set_paths(result, DISCLOSURES[case](result, secret))
    res, html = _report(cli, result)
    assert_no_traceback(res)
    assert res.code == 0, res.describe()
    page = check_self_contained(html)
    assert page.n_images == 0, f"an outside image became a thumbnail ({case})"
    if case == "working-dir-from-summary":  # only tried as a base: found nowhere inside
        assert "not found inside the result folder" in page.all_text
    else:
        assert "outside the result folder" in page.all_text
    assert [w for w in res.warnings if "result folder" in w and "--image-root" in w], res.describe()


def test_images_inside_the_result_folder_and_image_roots_are_embedded(
    result: Path, secret: Path, cli: Runner
) -> None:
    """The rule keeps the honest cases: a copy inside the folder, a link inside pointing
    inside, and images of a folder the user names with --image-root."""
    (result / "imgs").mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(result / "imgs" / "a.png")
    (result / "alias.png").symlink_to(result / "imgs" / "a.png")
    _set_paths(result, ["imgs/a.png", "alias.png"])
    res, html = _report(cli, result)
    assert res.code == 0 and not res.warnings, res.describe()
    assert check_self_contained(html).n_images > 0
    # the generated folder, outside: placeholders by default, thumbnails once it is named
    _set_paths(result, [str(Path("gen") / p.name) for p in sorted((result.parent / "gen").iterdir())])
    res, html = _report(cli, result)
    assert check_self_contained(html).n_images == 0
    assert [w for w in res.warnings if "--image-root" in w], res.describe()
    res, html = _report(cli, result, "--image-root", result.parent / "gen")
    assert res.code == 0 and not res.warnings, res.describe()
    assert check_self_contained(html).n_images > 0
    # a root names what it names: the secret beside it stays out
    _set_paths(result, [str(secret)])
    res, html = _report(cli, result, "--image-root", result.parent / "gen")
    assert check_self_contained(html).n_images == 0


def test_image_root_must_be_a_folder(result: Path, cli: Runner) -> None:
    res, _ = _report(cli, result, "--image-root", result.parent / "nowhere")
    assert_user_error(res, "--image-root", "nowhere")


def test_generation_manifest_outside_is_not_read(result: Path, tmp_path: Path, cli: Runner) -> None:
    """The recorded source folder's generation.jsonl adds prompts to a report: only inside."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    rows = _rows(result)
    (outside / "generation.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "prompt": "PRIVATE-PROMPT", "seed": 1}) + "\n" for r in rows)
    )
    data = json.loads((result / "summary.json").read_text())
    bench = {"metrics": {}, "counts": {}, "source": str(outside), "manifest": data["manifest"]}
    (result / "summary.json").unlink()
    (result / "benchmark.json").write_text(json.dumps(bench))
    res, html = _report(cli, result)
    assert res.code == 0, res.describe()
    assert "PRIVATE-PROMPT" not in html


# ----------------------------------------------------------------- bounded reads


def test_a_huge_file_named_png_is_not_read_whole(result: Path, cli: Runner) -> None:
    """A 512 MB file named .png (sparse: costs nothing on disk) used to be read whole."""
    with open(result / "huge.png", "wb") as f:
        f.truncate(512 << 20)
    bomb_png(result / "bomb.png")
    (result / "imgs").mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(result / "imgs" / "ok.png")
    os.mkfifo(result / "fifo.png")
    _set_paths(result, ["huge.png", "bomb.png", "fifo.png", "imgs/ok.png"])
    tracemalloc.start()
    try:
        res, html = _report(cli, result)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.code == 0, res.describe()
    text = check_self_contained(html).all_text
    assert "not an image Pillow can read" in text and "decompression bomb" in text
    assert check_self_contained(html).n_images > 0  # the good image still shows
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MB of Python allocations"


# ----------------------------------------------------------------- one error line


def _nested(depth: int) -> str:
    return '{"metrics": ' + "[" * depth + "]" * depth + "}"


def _write(name: str, data: bytes | str) -> Callable[[Path], object]:
    def build(folder: Path) -> None:
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)

    return build


def _json_edit(edit: Callable[[dict], object]) -> Callable[[Path], object]:
    return lambda folder: _summary(folder, edit)


def _non_utf8_csv(folder: Path) -> None:
    (folder / "per_image.parquet").unlink()
    raw = (folder / "per_image.csv").read_bytes()
    (folder / "per_image.csv").write_bytes(raw.replace(b"gen/", b"g\xe9n\xff/", 1))


def _corrupt_parquet(folder: Path) -> None:
    data = bytearray((folder / "per_image.parquet").read_bytes())
    data[len(data) // 3 : len(data) // 3 + 64] = os.urandom(64)
    (folder / "per_image.parquet").write_bytes(bytes(data))


def _truncated_parquet(folder: Path) -> None:
    data = (folder / "per_image.parquet").read_bytes()
    (folder / "per_image.parquet").write_bytes(data[: len(data) // 2])


def _parquet_of_text(folder: Path) -> None:
    (folder / "per_image.parquet").write_text("id,path\n1,a.png\n")


def _huge_csv_field(folder: Path) -> None:
    (folder / "per_image.parquet").unlink()
    (folder / "per_image.csv").write_text("id,path\n1," + "x" * (200 << 10) + "\n")


def _wrong_row_types(folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [[1, 2], [3]], "path": [{"a": 1}, {"a": 2}], "density.x": ["a", "b"]})
    pq.write_table(table, folder / "per_image.parquet")


BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "json-nested-100000-deep": (_write("summary.json", _nested(100_000)), "summary.json"),
    "json-nested-900-deep": (_write("summary.json", _nested(900)), "summary.json"),
    "json-not-utf8": (_write("summary.json", b'{"metrics": {"\xff": 1}}'), "summary.json"),
    "json-nan-literal-list": (_write("summary.json", "[NaN]"), "summary.json"),
    "metrics-is-a-list": (_json_edit(lambda d: d.update(metrics=[1, 2])), "summary.json"),
    "metric-is-a-number": (_json_edit(lambda d: d["metrics"].update(fid=3.5)), "summary.json"),
    "metric-ci-is-a-string": (
        _json_edit(lambda d: d["metrics"]["fid"].update(ci95="wide", value={"a": 1})), "summary.json"
    ),
    "counts-is-a-string": (_json_edit(lambda d: d.update(counts="many")), "summary.json"),
    "manifest-is-a-list": (_json_edit(lambda d: d.update(manifest=[1])), "summary.json"),
    "working-dir-is-a-number": (
        _json_edit(lambda d: d["manifest"].update(working_dir=7)), "per_image"
    ),
    "skipped-is-an-object": (_json_edit(lambda d: d.update(skipped={"a": 1})), "summary.json"),
    "csv-not-utf8": (_non_utf8_csv, "per_image.csv"),
    "csv-huge-field": (_huge_csv_field, "per_image.csv"),
    "parquet-corrupt-bytes": (_corrupt_parquet, "per_image.parquet"),
    "parquet-truncated": (_truncated_parquet, "per_image.parquet"),
    "parquet-is-text": (_parquet_of_text, "per_image.parquet"),
    "compare-sets-not-objects": (
        _write("compare.json", json.dumps({"sets": ["a", 1], "metrics": {}})), "compare.json"
    ),
    "compare-table-of-numbers": (
        _write("compare.json", json.dumps({"sets": [{"name": "a"}], "styles": ["s"],
                                           "metrics": {"m": {"table": {"a": [1, 2]}}}})),
        "compare.json",
    ),
    "benchmark-cells-not-objects": (
        _write("benchmark.json", json.dumps({"metrics": {"m": {"cells": [1, "x"]}}})),
        "benchmark.json",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_result_folder_is_one_error_line(result: Path, cli: Runner, case: str) -> None:
    build, needle = BROKEN[case]
    build(result)
    res, _ = _report(cli, result)
    if case == "working-dir-is-a-number":  # ignored, as any unusable manifest field
        assert res.code == 0, res.describe()
        return
    assert_user_error(res, needle)


def test_parquet_rows_of_odd_types_still_render(result: Path, cli: Runner) -> None:
    _wrong_row_types(result)
    res, html = _report(cli, result)
    assert res.code == 0, res.describe()
    check_self_contained(html)


def test_rows_with_odd_values_still_render(result: Path, cli: Runner) -> None:
    """Text where numbers belong, NaN and huge numbers in a per-image table are shown, not
    fatal (the table is data, not structure)."""
    _set_paths(result, ["gen/x.png"])
    rows = _rows(result)
    rows[0]["density.real_balls_containing"] = "not a number"
    rows[1]["density.real_balls_containing"] = "nan"
    rows[2]["density.real_balls_containing"] = "1e308"
    with open(result / "per_image.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res, html = _report(cli, result)
    assert res.code == 0, res.describe()
    check_self_contained(html)
    assert np.isfinite(len(html))
