"""Images in the evaluate HTML report and marked cells in compare (issue 17): sample grids of
both sets, the generated images outside the reference manifold, the reference images no
generated image covers; in compare, set-level cells worse than the baseline are shaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmetrics.cli.app import main
from genmetrics.results.render import build
from genmetrics.results.render.html import render_html
from genmetrics.results.render.images import Thumbnailer
from genmetrics.results.render.visuals import Visuals
from tests.fakes import PixelBackbone, patch_backbones, write_images
from tests.results.render.parse import Page, check_self_contained


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated images: 10 like the reference (dark noise) and 3 bright ones far from it;
    the reference has a cluster of 6 red images (more than k = 5, so their k-NN balls stay
    small) far from every generated one."""
    root = tmp_path_factory.mktemp("evaluate-visuals")
    write_images(root / "real", 12, seed=2)
    write_images(root / "gen", 10, seed=1)
    for i in range(3):
        Image.new("RGB", (32, 24), (250, 250, 250 - 40 * i)).save(root / "gen" / f"zz-bright{i}.png")
    for i in range(6):
        Image.new("RGB", (32, 24), (250 - 8 * i, 0, 0)).save(root / "real" / f"zz-red{i}.png")
    bb = PixelBackbone()
    with pytest.MonkeyPatch.context() as mp:
        patch_backbones(mp, lambda name, opts: bb)
        mp.chdir(root)
        code = main(["evaluate", "gen", "-r", "real", "-m", "precision,recall,density,coverage",
                     "--no-cache", "--out", "res", "-f", "json"])
    assert code == 0
    return root


def test_evaluate_report_shows_both_sets_and_the_images_off_the_manifold(evaluated: Path) -> None:
    page = check_self_contained((evaluated / "res" / "report.html").read_text(encoding="utf-8"))
    text = page.all_text
    assert "sample images of each set" in text
    assert "generated: 8 of 13 images" in text and "reference: 8 of 18 images" in text
    assert "generated images outside the reference manifold" in text
    per_image = {r["id"]: r for r in _csv(evaluated / "res" / "per_image.csv")}
    outside = sorted(i for i, r in per_image.items() if r["precision.in_real_manifold"] == "False")
    assert {"zz-bright0", "zz-bright1", "zz-bright2"} <= set(outside)
    grid = text[text.index("outside the reference manifold"):]
    assert all(i in grid for i in outside)
    assert page.n_images >= 16
    # farthest first: the per-image distance / ball radius is saved and orders the grid
    ratios = {i: float(per_image[i]["precision.manifold_ratio"]) for i in outside}
    assert all(r > 1 for r in ratios.values())
    assert all((float(r["precision.manifold_ratio"]) <= 1) == (r["precision.in_real_manifold"] == "True")
               for r in per_image.values())
    order = sorted(outside, key=lambda i: -ratios[i])
    assert [grid.index(i) for i in order] == sorted(grid.index(i) for i in order)


def test_evaluate_saves_the_reference_side_and_shows_the_uncovered_images(evaluated: Path) -> None:
    """Coverage per reference image is saved (``per_image_reference``) and the reference
    images no generated image covers appear in the report, farthest first."""
    rows = _csv(evaluated / "res" / "per_image_reference.csv")
    assert (evaluated / "res" / "per_image_reference.parquet").is_file()
    assert len(rows) == 18 and {"id", "path", "sha256", "coverage.covered", "coverage.nearest_ratio"} <= set(rows[0])
    assert all((float(r["coverage.nearest_ratio"]) < 1) == (r["coverage.covered"] == "True") for r in rows)
    summary = json.loads((evaluated / "res" / "summary.json").read_text())
    covered = sum(r["coverage.covered"] == "True" for r in rows)
    assert summary["metrics"]["coverage"]["value"] == pytest.approx(covered / 18)
    uncovered = [r["id"] for r in sorted(rows, key=lambda r: -float(r["coverage.nearest_ratio"]))
                 if r["coverage.covered"] == "False"]
    assert {f"zz-red{i}" for i in range(6)} == set(uncovered)
    text = check_self_contained((evaluated / "res" / "report.html").read_text(encoding="utf-8")).all_text
    assert f"reference images no generated image covers: {len(uncovered)} of 18" in text
    grid = text[text.index("no generated image covers"):]
    shown = uncovered[:8]
    assert [grid.index(i) for i in shown] == sorted(grid.index(i) for i in shown)


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_command_shows_the_reference_only_from_allowed_folders(evaluated: Path, tmp_path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(evaluated / "res"), "--out", str(out)]) == 0
    page = check_self_contained(out.read_text(encoding="utf-8"))
    # both image folders lie outside the result folder: rows are listed (from the saved
    # tables), every thumbnail is a placeholder, no image of the machine is embedded
    assert page.n_images == 0 and "reference: 8 of 18" in page.all_text
    assert main(["report", str(evaluated / "res"), "--out", str(out),
                 "--image-root", str(evaluated / "real"), "--image-root", str(evaluated / "gen")]) == 0
    page = check_self_contained(out.read_text(encoding="utf-8"))
    assert "reference: 8 of 18" in page.all_text and page.n_images >= 16


def _png(path: Path, value: int) -> str:
    Image.new("RGB", (8, 8), (value, value, value)).save(path)
    return str(path)


def test_uncovered_reference_images_farthest_first(tmp_path: Path) -> None:
    """With per-image coverage of the reference side (``coverage.covered`` and the distance
    ratio of :func:`~genmetrics.metrics.functional.prdc.manifold_ratios`) the report shows the
    reference images no generated image covers, farthest first."""
    gen = [{"id": f"g{i}", "path": _png(tmp_path / f"g{i}.png", 10 * i),
            "precision.in_real_manifold": i != 2, "precision.manifold_ratio": [0.5, 0.9, 4.0][i]}
           for i in range(3)]
    ref = [{"id": f"r{i}", "path": _png(tmp_path / f"r{i}.png", 100 + 10 * i),
            "coverage.covered": i == 0, "coverage.nearest_ratio": [0.2, 1.5, 7.0][i]}
           for i in range(3)]
    from genmetrics.results.render.images import path_reader

    visuals = Visuals(lambda s, row: path_reader(row["path"], []), 4, Thumbnailer())
    doc = build.evaluation_document({"metrics": {}, "counts": {}}, gen, visuals, "run", ref)
    page = check_self_contained(render_html(doc))
    text = page.all_text
    assert "reference images no generated image covers: 2 of 3" in text
    part = text[text.index("no generated image covers"):]
    assert part.index("r2") < part.index("r1") and "r0" not in part.split("distributions")[0]
    assert "generated images outside the reference manifold: 1 of 3" in text


def test_compare_marks_set_level_cells_worse_than_the_baseline() -> None:
    def cell(style: str, mean: float) -> dict:
        return {"style": style, "mean": mean, "std": None, "ci95": None, "n_images": 10}

    data = {
        "styles": ["a", "b"],
        "sets": [{"name": "base"}, {"name": "fast"}],
        "baseline": "base",
        "metrics": {
            "fid": {"higher_is_better": False, "per_image": False,
                    "table": {"base": [cell("a", 10.0), cell("b", 10.0), cell("Average", 10.0)],
                              "fast": [cell("a", 12.0), cell("b", 9.0), cell("Average", 10.5)]}},
            "clip_score": {"higher_is_better": True, "per_image": False,
                           "table": {"base": [cell("a", 30.0), cell("b", 30.0), cell("Average", 30.0)],
                                     "fast": [cell("a", 29.0), cell("b", 31.0), cell("Average", 30.0)]}},
        },
    }
    doc = build.compare_document(data)
    page = Page(render_html(doc))
    worse = [(t, d.get("title")) for t, d in page.tags if t == "td" and "t-worse" in (d.get("class") or "")]
    assert sorted(float(title) for _, title in worse) == [10.5, 12.0, 29.0]
    assert "Shaded red: worse than base" in page.all_text


def test_manifold_ratios_agree_with_prdc_indicators() -> None:
    from genmetrics.metrics.functional.prdc import manifold_ratios, prdc

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(60, 5)), rng.normal(size=(45, 5)) + 0.7
    ratios = manifold_ratios(real, fake, chunk_size=7)
    res = prdc(real, fake)
    np.testing.assert_array_equal(ratios.fake_ratio <= 1, res.fake_in_real_manifold)
    np.testing.assert_array_equal(ratios.real_ratio < 1, res.real_covered)
    np.testing.assert_array_equal(ratios.fake_ratio, res.fake_manifold_ratio)
    np.testing.assert_array_equal(ratios.real_ratio, res.real_nearest_ratio)
    # the ratio is the distance in units of the ball radius, against a brute-force re-statement
    from scipy.spatial.distance import cdist

    d_rr, d_fr = cdist(real, real), cdist(fake, real)
    radius_pr = np.sort(d_rr, axis=1)[:, 3]  # k = 3 (column 0 is the sample itself)
    radius_dc = np.sort(d_rr, axis=1)[:, 5]
    np.testing.assert_allclose(ratios.fake_ratio, (d_fr / radius_pr[None, :]).min(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ratios.real_ratio, d_fr.min(axis=0) / radius_dc, rtol=1e-12)
    dup = np.repeat(real[:2], 4, axis=0)  # zero radii: distance 0 is inside, anything else not
    r2 = manifold_ratios(dup, np.vstack([dup[:1], dup[:1] + 1]), k_pr=3, k_dc=3)
    assert r2.fake_ratio[0] == 0 and np.isinf(r2.fake_ratio[1])
