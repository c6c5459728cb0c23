"""Bad options, reference statistics and prompt manifests: each is one ``error:`` line naming
the option or file, exit code 2, and is caught before any image goes through the backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fakes import PixelBackbone
from tests.robustness.conftest import Runner, Sets, assert_user_error, good_stats, write_npz

_MPS = getattr(torch.backends, "mps", None)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
NO_MPS = pytest.mark.skipif(
    _MPS is not None and _MPS.is_available(), reason="MPS is available here"
)

# (id, extra argv, substrings the error line must contain). Default metrics: fid.
OPTION_CASES = [
    pytest.param(["--device", "cuda"], ["--device", "cuda"], id="device-cuda", marks=NO_CUDA),
    pytest.param(["--device", "mps"], ["--device", "mps"], id="device-mps", marks=NO_MPS),
    pytest.param(["--device", "gpu"], ["--device", "gpu"], id="device-gpu"),
    pytest.param(["--device", "bogus"], ["--device", "bogus"], id="device-bogus"),
    pytest.param(["--workers", "-1"], ["--workers"], id="workers-negative"),
    pytest.param(["--workers", "0"], ["--workers"], id="workers-zero"),
    pytest.param(["--batch-size", "0"], ["--batch-size"], id="batch-size-zero"),
    pytest.param(["--batch-size", "-5"], ["--batch-size"], id="batch-size-negative"),
    pytest.param(["-m", ""], ["--metrics"], id="metrics-empty"),
    # strict reading: an empty entry in the list is a typo to report, not to paper over
    pytest.param(["-m", "fid,,fid"], ["--metrics"], id="metrics-empty-entry"),
    pytest.param(["-m", "fid,nosuchmetric"], ["nosuchmetric"], id="metric-unknown"),
    pytest.param(["--protocol", "bogus"], ["--protocol"], id="protocol-bogus"),
    pytest.param(["-m", "fid,kid", "--kid-subsets", "0"], ["--kid-subsets"], id="kid-subsets-zero"),
    pytest.param(
        ["-m", "fid,kid", "--kid-subset-size", "1"], ["--kid-subset-size"], id="kid-subset-size-one"
    ),
    pytest.param(["-m", "fid,is", "--is-splits", "0"], ["--is-splits"], id="is-splits-zero"),
    pytest.param(["--dtype", "fp8"], ["--dtype", "fp8"], id="dtype-fp8"),
]


@pytest.mark.parametrize("extra, needles", OPTION_CASES)
def test_bad_option(
    extra: list[str], needles: list[str], sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    metrics = [] if "-m" in extra else ["-m", "fid"]
    res = cli("evaluate", sets.gen, "-r", sets.real, *metrics, *extra)
    assert_user_error(res, *needles)
    assert fake_backbone.calls == 0, "the bad option was noticed only after the forward passes"


@NO_CUDA
def test_device_cuda_with_a_warm_cache(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """Every feature is cached after the first run, so nothing would touch the device: the
    device must still be checked."""
    first = cli(*sets.evaluate("--device", "cpu"))
    assert first.code == 0, first.describe()
    calls = fake_backbone.calls
    assert calls > 0
    assert_user_error(cli(*sets.evaluate("--device", "cuda")), "--device", "cuda")
    assert fake_backbone.calls == calls


def test_out_is_an_existing_file(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    taken = sets.root / "taken.txt"
    taken.write_text("keep me\n")
    assert_user_error(cli(*sets.evaluate("--out", taken)), "--out", "taken.txt")
    assert fake_backbone.calls == 0
    assert taken.read_text() == "keep me\n"


def test_stats_out_is_an_existing_folder(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    folder = sets.root / "stats-folder"
    folder.mkdir()
    assert_user_error(cli("stats", sets.real, "--out", folder), "--out", "stats-folder")
    assert fake_backbone.calls == 0
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------- --reference


def _npz_corrupt(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)


def _npz_wrong_keys(path: Path) -> None:
    write_npz(path, mean=np.zeros(64), cov=np.eye(64))


def _npz_nan(path: Path) -> None:
    stats = good_stats()
    stats["mu"][3] = np.nan
    write_npz(path, **stats)


def _npz_negative_covariance(path: Path) -> None:
    write_npz(path, **{**good_stats(), "sigma": -np.eye(64)})


def _npz_shape_mismatch(path: Path) -> None:
    write_npz(path, **{**good_stats(), "sigma": np.eye(32)})


def _npz_object_array(path: Path) -> None:
    write_npz(path, mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(64))


REFERENCE_CASES = [
    pytest.param("nowhere-ref", None, id="reference-missing"),
    pytest.param("ref-corrupt.npz", _npz_corrupt, id="npz-corrupt"),
    pytest.param("ref-keys.npz", _npz_wrong_keys, id="npz-wrong-keys"),
    pytest.param("ref-nan.npz", _npz_nan, id="npz-nan"),
    pytest.param("ref-negcov.npz", _npz_negative_covariance, id="npz-covariance-minus-identity"),
    pytest.param("ref-shapes.npz", _npz_shape_mismatch, id="npz-mu-sigma-size-mismatch"),
    pytest.param("ref-pickle.npz", _npz_object_array, id="npz-object-array"),
]


@pytest.mark.parametrize("name, build", REFERENCE_CASES)
def test_bad_reference(
    name: str, build, sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """Strict reading of "checked before heavy work": the reference is validated before the
    generated images are run through the backbone."""
    ref = sets.root / name
    if build is not None:
        build(ref)
    assert_user_error(cli("evaluate", sets.gen, "-r", ref, "-m", "fid"), name)
    assert fake_backbone.calls == 0, "the bad reference was noticed only after the forward passes"


def test_reference_stats_of_another_dimension(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """10-d statistics against 64-d features (the fake backbone's pool3)."""
    ref = write_npz(sets.root / "ref-10d.npz", **good_stats(10))
    assert_user_error(cli("evaluate", sets.gen, "-r", ref, "-m", "fid"), "ref-10d.npz")


# --------------------------------------------------------------------------- --prompts


def _jsonl_rows(sets: Sets) -> list[str]:
    return [
        f'{{"image": "{p.name}", "prompt": "a photo {i}"}}'
        for i, p in enumerate(sorted(sets.gen.iterdir()))
    ]


def _bad_jsonl(sets: Sets, path: Path) -> None:
    rows = _jsonl_rows(sets)
    rows.insert(2, '{"image": "img002.png", "prompt": "unterminated')
    path.write_text("\n".join(rows) + "\n")


def _csv_without_prompt(sets: Sets, path: Path) -> None:
    path.write_text(
        "image,description\n" + "".join(f"{p.name},x\n" for p in sorted(sets.gen.iterdir()))
    )


def _duplicate_ids(sets: Sets, path: Path) -> None:
    rows = _jsonl_rows(sets) + ['{"image": "img000.png", "prompt": "again"}']
    path.write_text("\n".join(rows) + "\n")


PROMPT_CASES = [
    pytest.param("absent-prompts.jsonl", None, [], id="prompts-missing"),
    pytest.param("bad-line.jsonl", _bad_jsonl, ["line 3"], id="prompts-malformed-jsonl-line"),
    pytest.param("no-prompt-column.csv", _csv_without_prompt, [], id="prompts-csv-without-prompt"),
    pytest.param("twice.jsonl", _duplicate_ids, ["img000"], id="prompts-duplicate-ids"),
]


@pytest.mark.parametrize("name, build, more", PROMPT_CASES)
def test_bad_prompts(
    name: str, build, more: list[str], sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    manifest = sets.root / name
    if build is not None:
        build(sets, manifest)
    res = cli("evaluate", sets.gen, "-m", "is", "--prompts", manifest)
    assert_user_error(res, name, *more)
    assert fake_backbone.calls == 0
