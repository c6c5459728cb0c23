"""ADM evaluator reference batches as ``--reference``, end to end, on the real FID Inception
architecture with random weights: FID/sFID from the batch's statistics equal the numbers of
the same images as a folder (tf1), and precision/recall/density/coverage read the batch's
images (``arr_0``) one at a time from disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.registry import BackboneOptions
from genmetrics.cli.app import main
from genmetrics.features.adm_batches import ADM_SPACES
from genmetrics.features.reference import ReferenceStats
from genmetrics.pipeline.evaluate import evaluate
from genmetrics.pipeline.reference import read_reference
from tests.fakes import patch_backbones, write_images

PRDC = ("precision", "recall", "density", "coverage")


def _images(n: int, seed: int, size=(40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def inception_path(tmp_path_factory):
    from safetensors.torch import save_file

    from tests.backbones.inception.test_network import random_inception

    path = tmp_path_factory.mktemp("weights") / "inception-random.safetensors"
    save_file({k: v.contiguous() for k, v in random_inception(seed=3).state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def adm(tmp_path_factory, inception_path):
    """Reference images as a folder of PNGs and as an ADM batch whose statistics are computed
    here directly (network forward, ``np.cov``): the layout of VIRTUAL_imagenet256_labeled.npz."""
    import torch

    root = tmp_path_factory.mktemp("adm")
    real = _images(9, 2)
    (root / "real").mkdir()
    for i, img in enumerate(real):
        Image.fromarray(img).save(root / "real" / f"{i:03d}.png")
    write_images(root / "gen", 8, seed=1, size=(44, 40))
    bb = InceptionBackbone(BackboneOptions(protocol="tf1", device="cpu"), str(inception_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        feats = bb.forward(np.stack([bb.preprocess(img) for img in real]))
    finally:
        torch.set_num_threads(threads)
    pool3, spatial = (feats[k].astype(np.float64) for k in ("pool3", "spatial"))
    path = root / "VIRTUAL_tiny_labeled.npz"
    np.savez(path, arr_0=real, arr_1=np.arange(9), mu=pool3.mean(0), sigma=np.cov(pool3, rowvar=False),
             mu_s=spatial.mean(0), sigma_s=np.cov(spatial, rowvar=False))
    return {"root": root, "path": path, "pool3": pool3, "inception": inception_path}


@pytest.fixture
def networks(monkeypatch, adm, one_torch_thread):
    patch_backbones(monkeypatch,
                    lambda name, opts: InceptionBackbone(opts, weights_path=str(adm["inception"])))


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def _prdc_restated(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict:
    """Kynkäänniemi et al. 2019 / Naeem et al. 2020, written out with dense distances."""
    d = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # (M, N)
    r_real, r_fake = _knn_radius(real, k_pr), _knn_radius(fake, k_pr)
    r_dc = _knn_radius(real, k_dc)
    return {
        "precision": float((d <= r_real[None]).any(1).mean()),
        "recall": float((d.T <= r_fake[None]).any(1).mean()),
        "density": float((d < r_dc[None]).sum() / (k_dc * len(fake))),
        "coverage": float((d.min(0) < r_dc).mean()),
    }


@pytest.mark.slow
def test_fid_sfid_and_prdc_against_an_adm_batch(adm, networks, capsys):
    """fid/sfid from the batch's statistics, precision/recall/density/coverage from its images,
    in one evaluation: the numbers of the same images as a folder."""
    root, path = adm["root"], adm["path"]
    args = ["evaluate", str(root / "gen"), "--metrics", "fid,sfid," + ",".join(PRDC),
            "--protocol", "tf1", "--format", "json", "--device", "cpu", "--batch-size", "4",
            "--no-cache"]
    docs = []
    for reference in (path, root / "real"):
        capsys.readouterr()
        code = main([*args, "--reference", str(reference)])
        out = capsys.readouterr()
        assert code == 0, out.err
        docs.append(json.loads(out.out))
    from_adm, from_folder = docs
    for name in ("fid", "sfid"):
        value = from_adm["metrics"][name]["value"]
        assert np.isfinite(value) and value > 0
        # the batch's statistics were made with np.cov, the folder's streamed: same to rounding
        assert value == pytest.approx(from_folder["metrics"][name]["value"], rel=1e-7), name
    for name in PRDC:
        assert from_adm["metrics"][name]["value"] == from_folder["metrics"][name]["value"], name
    assert from_adm["counts"]["reference"] == 9
    assert from_adm["counts"]["forwards"]["inception"] == 8 + 9  # generated + arr_0, once each
    assert from_adm["manifest"]["reference_manifest"]["format"] == "adm-reference-batch"
    # precision/recall/density/coverage restated on features computed directly
    bb = InceptionBackbone(BackboneOptions(protocol="tf1", device="cpu"), str(adm["inception"]))
    gen = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "gen").glob("*.png"))]
    fake = bb.forward(np.stack([bb.preprocess(img) for img in gen]))["pool3"].astype(np.float64)
    expected = _prdc_restated(adm["pool3"], fake)
    for name in PRDC:
        assert from_adm["metrics"][name]["value"] == pytest.approx(expected[name], abs=1e-12), name


def test_prdc_alone_against_an_adm_batch_reads_only_the_images(adm, networks):
    """Without a Gaussian request the statistics are not used (any protocol works)."""
    res = evaluate(adm["root"] / "gen", adm["path"], "precision,recall", protocol="clean",
                   batch_size=4, device="cpu", cache=False)
    ref = evaluate(adm["root"] / "gen", adm["root"] / "real", "precision,recall", protocol="clean",
                   batch_size=4, device="cpu", cache=False)
    for name in ("precision", "recall"):
        assert res.metrics[name].value == ref.metrics[name].value
    assert res.counts["reference"] == 9 and "reference_manifest" not in res.manifest


def test_adm_batch_refusals(adm, networks, tmp_path, capsys):
    gen = str(adm["root"] / "gen")
    capsys.readouterr()
    assert main(["evaluate", gen, "-r", str(adm["path"]), "-m", "fid", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "was made with protocol 'tf1' but this run uses 'clean'" in err and err.count("\n") == 1
    stats_only = tmp_path / "stats_only.npz"
    with np.load(adm["path"]) as data:
        np.savez(stats_only, **{k: data[k] for k in ("mu", "sigma", "mu_s", "sigma_s")})
    assert main(["evaluate", gen, "-r", str(stats_only), "-m", "fid,precision", "--device", "cpu",
                 "--protocol", "tf1"]) == 2
    err = capsys.readouterr().err
    assert "has no images ('arr_0')" in err and err.count("\n") == 1


def test_read_reference_dispatches(adm, tmp_path):
    ref = read_reference(adm["path"])
    assert isinstance(ref, ReferenceStats) and ref.spaces == list(ADM_SPACES)
    assert ref.manifest["protocol"] == "tf1" and ref.stats.n == 9
    np.testing.assert_allclose(ref.stats.cov, np.cov(adm["pool3"], rowvar=False), rtol=1e-12)
    assert ref.manifest["format"] == "adm-reference-batch"
    plain = tmp_path / "plain.npz"
    np.savez(plain, mu=np.zeros(4), sigma=np.eye(4))
    assert read_reference(plain).manifest is None
