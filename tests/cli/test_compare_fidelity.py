"""``compare`` as acceleration teams use it: paired similarity only, LPIPS, distances to the
baseline's images, the ``--require`` gate (exit codes, JUnit) and its bad input."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from genmetrics.cli.app import main
from genmetrics.comparison import compare as compare_module
from genmetrics.comparison import scoring
from genmetrics.metrics.functional.image_similarity import ssim
from tests.backbones.lpips.fixtures import install_random_lpips
from tests.backbones.lpips.reference import im2tensor
from tests.comparison.helpers import fake_metrics, write_suite  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_metrics", "one_torch_thread")
STYLES = ("sky", "sea")


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def sets(tmp_path):
    """base; same (identical files); dark (each image darker by 5-15), 4 prompts per style."""
    suite = write_suite(tmp_path / "mini.json", {"sky": 4, "sea": 4})
    rng = np.random.default_rng(0)
    ids = [f"{s}/{i:05d}" for s in STYLES for i in range(4)]
    base = {k: rng.integers(20, 236, (32, 32, 3), dtype=np.uint8) for k in ids}
    dark = {k: (v.astype(int) - int(rng.integers(5, 16))).astype(np.uint8) for k, v in base.items()}
    for k in ids:
        _save(tmp_path / "base" / f"{k}.png", base[k])
        _save(tmp_path / "same" / f"{k}.png", base[k])
        _save(tmp_path / "dark" / f"{k}.png", dark[k])
    return tmp_path, suite, ids, base, dark


def _run(capsys, *args):
    """Exit code, stdout and stderr without the progress bars."""
    code = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    err = "".join(line for line in out.err.splitlines(keepends=True) if "━" not in line)
    return code, out.out, err


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if any folder is scored or any pair compared (errors must come first)."""

    def refuse(*a, **k):
        raise AssertionError("work started before the error")

    monkeypatch.setattr(scoring, "evaluate", refuse)
    monkeypatch.setattr(compare_module, "pair_similarity", refuse)
    monkeypatch.setattr(compare_module, "build_scorers", refuse)


def test_similarity_only_runs_no_metric(sets, capsys, monkeypatch):
    root, suite, ids, base, dark = sets
    calls = []
    monkeypatch.setattr(scoring, "evaluate", lambda *a, **k: calls.append(1))
    code, out, err = _run(capsys, root / "base", root / "dark", "--suite", suite,
                          "--similarity", "psnr,ssim", "--format", "json", "--seed", "3")
    assert code == 0, err
    assert calls == []  # no per-image metric was evaluated
    doc = json.loads(out)
    assert doc["metrics"] == {} and doc["n_chunks"] is None
    sim = doc["similarity"]["dark"]
    assert sim["higher_is_better"] == {"psnr": True, "ssim": True}
    overall = sim["styles"]["Average"]["ssim"]
    vals = {k: ssim(base[k], dark[k]) for k in ids}
    assert overall["value"] == pytest.approx(np.mean(list(vals.values())), abs=1e-12)
    lo, hi = overall["ci95"]
    assert lo <= overall["value"] <= hi
    worst = min(vals, key=vals.get)
    assert overall["worst"][0] == {"id": worst, "value": pytest.approx(vals[worst])}
    sky = sim["styles"]["sky"]["ssim"]
    assert sky["n"] == 4 and sky["value"] == pytest.approx(np.mean([vals[k] for k in ids[:4]]))


def test_default_metrics_only_when_neither_option_is_given(sets, monkeypatch):
    root, suite, *_ = sets
    seen = []

    def stop(src, wanted, *a, **k):
        seen.append(list(wanted))
        raise SystemExit(0)

    monkeypatch.setattr(compare_module, "score_set", stop)
    monkeypatch.setattr(compare_module, "prepare_backbones", lambda *a, **k: {})
    for extra in ([], ["--metrics", "brightness"]):
        assert main(["compare", str(root / "base"), str(root / "dark"), "--suite", str(suite),
                     *extra]) == 0
    assert seen == [["hps", "clip_score", "aesthetic"], ["brightness"]]


def test_gate_exit_codes_lines_and_junit(sets, capsys, tmp_path):
    root, suite, *_ = sets
    common = [root / "base", root / "same", root / "dark", "--names", "base,same,dark",
              "--suite", suite, "--metrics", "brightness", "--n-chunks", "2",
              "--similarity", "psnr,ssim"]
    junit = tmp_path / "ci" / "gate.xml"
    junit.parent.mkdir()
    code, out, err = _run(capsys, *common, "--require", "ssim>=0.99", "--require",
                          "brightness:not-worse", "--require", "psnr@sky > 20",
                          "--junit", junit)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1  # only the unmet one: dark's brightness verdict
    assert lines[0].startswith("requirement not met: brightness:not-worse for dark:")
    assert "paired verdict 'worse'" in lines[0]
    tree = ET.parse(junit).getroot()
    assert tree.get("tests") == "6" and tree.get("failures") == "1"
    cases = tree.findall(".//testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("genmetrics.compare.dark", "brightness:not-worse")
    ]
    code, _, err = _run(capsys, *common, "--require", "ssim>=0.5", "--require", "psnr>=20")
    assert code == 0 and "all 4 requirement check(s) met" in err
    code, out, err = _run(capsys, *common, "--require", "ssim@sky>=0.9999", "--format", "json")
    assert code == 1
    assert err.strip() == next(
        f"requirement not met: ssim@sky>=0.9999 for dark: {c['detail']}"
        for c in json.loads(out)["requirements"]["checks"] if c["variant"] == "dark"
    )
    assert "required >= 0.9999" in err and "style sky" in err


@pytest.mark.parametrize(
    "require, message",
    [
        ("ssim=>0.9", "is not METRIC[@STYLE]OP NUMBER"),
        ("ssim>=high", "'high' is not a number"),
        ("lpip<=0.1", "unknown metric 'lpip' for this comparison (it computes: brightness, psnr, ssim)"),
        ("psnr:not-worse", "a verdict needs the paired test of a per-image metric"),
        ("brightness:fine", "unknown verdict 'fine'"),
        ("ssim@moon>=0.5", "no style 'moon'; styles: sky, sea"),
    ],
)
def test_bad_requirements_fail_before_any_work(sets, capsys, no_work, require, message):
    root, suite, *_ = sets
    code, out, err = _run(capsys, root / "base", root / "dark", "--suite", suite,
                          "--metrics", "brightness", "--similarity", "psnr,ssim",
                          "--require", require)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_junit_needs_require(sets, capsys, no_work):
    root, suite, *_ = sets
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", suite,
                        "--similarity", "psnr", "--junit", root / "j.xml")
    assert code == 2 and "add at least one --require" in err


def test_missing_baseline_image_and_size_mismatch(sets, capsys):
    root, suite, *_ = sets
    (root / "base" / "sea" / "00002.png").unlink()
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", "none",
                        "--similarity", "psnr,ssim")
    assert code == 2 and err.count("\n") == 1
    assert "1 image(s) only in dark (first: sea/00002)" in err
    _save(root / "base" / "sea" / "00002.png", np.zeros((30, 32, 3), np.uint8))
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", "none",
                        "--similarity", "psnr")
    assert code == 2 and err.count("\n") == 1
    assert "base/sea/00002.png is 32x30 but" in err and "dark/sea/00002.png is 32x32" in err


def test_lpips_in_compare_equals_the_reference_and_gates(sets, capsys, monkeypatch, tmp_path):
    root, suite, ids, base, dark = sets
    ref = install_random_lpips(monkeypatch, tmp_path / "w", "alex", seed=5)
    code, out, err = _run(capsys, root / "base", root / "same", root / "dark", "--suite", suite,
                          "--similarity", "lpips,ssim", "--format", "json",
                          "--require", "lpips<=0.0", "--out", root / "res")
    assert code == 1  # dark moved
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("requirement not met: lpips<=0.0 for dark: lpips = ")
    doc = json.loads(out)
    with torch.no_grad():
        expected = {k: float(ref(im2tensor(base[k]), im2tensor(dark[k])).flatten()[0]) for k in ids}
    lp = doc["similarity"]["dark"]["styles"]["Average"]["lpips"]
    assert lp["value"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    assert lp["options"] == {"net": "alex", "version": "0.1", "resize": "none"}
    assert doc["similarity"]["dark"]["higher_is_better"]["lpips"] is False
    assert lp["worst"][0]["id"] == max(expected, key=expected.get)
    assert doc["similarity"]["same"]["styles"]["Average"]["lpips"]["value"] == 0.0
    assert doc["changes_ranked_by"] == "lpips"
    html = (root / "res" / "report.html").read_text()
    assert "where dark differs most from base: highest lpips" in html
    assert "lpips ↓ (alex, v0.1, native)" in html
    per_image = (root / "res" / "per_image.csv").read_text()
    assert "similarity.lpips" in per_image.splitlines()[0]
    # the saved folder renders the same cards again
    assert main(["report", str(root / "res"), "--out", str(root / "again.html")]) == 0
    assert "where dark differs most from base: highest lpips" in (root / "again.html").read_text()


def test_lpips_options_and_their_errors(sets, capsys, monkeypatch, tmp_path, no_work):
    root, suite, *_ = sets
    args = [root / "base", root / "dark", "--suite", suite]
    code, _, err = _run(capsys, *args, "--similarity", "ssim", "--lpips-net", "vgg")
    assert code == 2 and "--lpips-net does not apply: add lpips to --similarity" in err
    code, _, err = _run(capsys, *args, "--similarity", "lpips", "--lpips-net", "resnet")
    assert code == 2 and "--lpips-net must be one of alex, vgg, squeeze" in err
    code, _, err = _run(capsys, *args, "--similarity", "lpips", "--lpips-resize", "20")
    assert code == 2 and "--lpips-resize 20 is too small for LPIPS-alex: use at least 31" in err
    code, _, err = _run(capsys, *args, "--similarity", "lpips", "--lpips-resize", "big")
    assert code == 2 and "--lpips-resize must be 'none' or an integer" in err
    code, _, err = _run(capsys, *args, "--similarity", "psnr", "--rank-changes-by", "lpips")
    assert code == 2 and "--rank-changes-by lpips: not a per-image or --similarity metric" in err


def test_missing_lpips_weights_is_one_line_before_scoring(sets, capsys, monkeypatch):
    root, suite, *_ = sets
    monkeypatch.setattr(compare_module, "pair_similarity", lambda *a, **k: pytest.fail("scored"))
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", suite,
                        "--similarity", "lpips", "--lpips-net", "squeeze")
    assert code == 2 and err.count("\n") == 1
    assert "genmetrics weights import torchvision-squeezenet1_1 PATH" in err


def test_vs_baseline_from_one_pass(sets, capsys, fake_metrics):  # noqa: F811
    from genmetrics.pipeline.evaluate import evaluate

    root, suite, *_ = sets
    code, out, err = _run(capsys, root / "base", root / "same", root / "dark", "--suite", suite,
                          "--vs-baseline", "fid,kid", "--format", "json",
                          "--require", "fid_vs_baseline<=1e-6")
    assert code == 1
    lines = err.strip().splitlines()
    # the N < D warnings of the distances to the baseline (8 images, 64 dims), then the gate
    assert all(x.startswith("warning: ") and "vs base" in x and "N < D" in x for x in lines[:-1])
    assert lines[-1].startswith("requirement not met: fid_vs_baseline<=1e-6 for dark:")
    doc = json.loads(out)
    vs = doc["vs_baseline"]
    assert vs["fid"]["higher_is_better"] is False
    assert abs(vs["fid"]["variants"]["same"]["value"]) < 1e-6
    direct = evaluate(root / "dark", root / "base", ["fid", "kid"], backbones={"inception": fake_metrics["inception"]})
    assert vs["fid"]["variants"]["dark"]["value"] == pytest.approx(direct["fid"], rel=1e-9)
    assert vs["kid"]["variants"]["dark"]["value"] == pytest.approx(direct["kid"], rel=1e-9)
    assert fake_metrics["inception"].images <= 8 * 3  # each distinct image forwarded once at most
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", suite, "--vs-baseline", "brightness")
    assert code == 2 and "not a distance between image sets" in err
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", suite,
                        "--vs-baseline", "fid", "--require", "fid_vs_baseline@sky<=1")
    assert code == 2 and "computed on all images only" in err


def test_gate_on_a_set_level_metric_uses_the_pooled_value(sets, capsys):
    root, suite, *_ = sets
    code, out, err = _run(capsys, root / "base", root / "dark", "--suite", suite, "--metrics", "is",
                          "--is-splits", "2", "--require", "is>=0", "--require", "is@sky>=1e9",
                          "--format", "json")
    assert code == 1, err
    doc = json.loads(out)
    checks = {c["requirement"]: c for c in doc["requirements"]["checks"]}
    assert doc["requirements"]["passed"] is False
    pooled = doc["metrics"]["is"]["all_images"]["dark"]["mean"]
    assert checks["is>=0"]["met"] and checks["is>=0"]["value"] == pytest.approx(pooled)
    sky = next(c["mean"] for c in doc["metrics"]["is"]["table"]["dark"] if c["style"] == "sky")
    assert checks["is@sky>=1e9"]["value"] == pytest.approx(sky) and not checks["is@sky>=1e9"]["met"]
    assert err.strip() == f"requirement not met: is@sky>=1e9 for dark: {checks['is@sky>=1e9']['detail']}"
    code, _, err = _run(capsys, root / "base", root / "dark", "--suite", suite, "--metrics", "is",
                        "--require", "is:not-worse")
    assert code == 2 and "a verdict needs the paired test of a per-image metric" in err
