"""Statistics files are checked in order of cost: headers and manifest first, then only the
matrices of the spaces a run uses, validated without an eigendecomposition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genmetrics import evaluate
from genmetrics.errors import UserError
from genmetrics.features import adm_batches, npz, reference, validate
from genmetrics.pipeline.reference import compute_reference_stats
from tests.fakes import PixelBackbone, write_images


class _Space:
    def __init__(self, name: str) -> None:
        self.name, self.key = name, f"{name}/k/v1"

    def manifest(self):
        return {"protocol": "clean", "dtype": "fp32"}


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 10, seed=1)
    write_images(tmp_path / "real", 10, seed=2)
    return tmp_path / "gen", tmp_path / "real"


@pytest.fixture
def reads(monkeypatch):
    """Names of the arrays read from any .npz, in order."""
    seen: list[str] = []
    real = npz.NpzArchive.read

    def read(self, name):
        seen.append(name)
        return real(self, name)

    monkeypatch.setattr(npz.NpzArchive, "read", read)
    return seen


def _with_bad_second_space(tmp_path, real):
    """Our two-space file: pool3 from the images, a DINOv2 space whose sigma is NaN."""
    path, _ = compute_reference_stats(real, tmp_path / "ref.npz", backbone=PixelBackbone(),
                                      cache=False)
    first = reference.read_reference_stats(path)
    extra = reference.stats_manifest(_Space("dinov2-vit-l14"), "cls", "clean", 20, 6)
    manifest = dict(first.manifest, extra_spaces=[{"mu": "mu_1", "sigma": "sigma_1", "n": "n_1",
                                                   "manifest": extra}])
    two = tmp_path / "two.npz"
    np.savez(two, mu=first.stats.mean, sigma=first.stats.cov, n=np.int64(first.stats.n),
             manifest=np.array(json.dumps(manifest)), mu_1=np.zeros(6),
             sigma_1=np.full((6, 6), np.nan), n_1=np.int64(20))
    return two


def test_only_the_spaces_a_run_uses_are_read_and_validated(sets, tmp_path, reads):
    gen, real = sets
    path = _with_bad_second_space(tmp_path, real)
    reads.clear()
    res = evaluate(gen, path, "fid", backbones={"inception": PixelBackbone()}, cache=False)
    assert np.isfinite(res["fid"])
    assert "sigma_1" not in reads and "mu_1" not in reads and reads.count("sigma") == 1
    ref = reference.read_reference_stats(path)
    with pytest.raises(UserError, match="NaN"):
        ref.stats_for("dinov2-vit-l14", "cls")


def test_manifest_is_checked_before_any_matrix_is_read(sets, tmp_path, reads):
    gen, real = sets
    path, _ = compute_reference_stats(real, tmp_path / "s.npz", protocol="tf1",
                                      backbone=PixelBackbone(), cache=False)
    reads.clear()
    bb = PixelBackbone()
    with pytest.raises(UserError, match="protocol 'tf1' but this run uses 'clean'"):
        evaluate(gen, path, "fid", backbones={"inception": bb}, cache=False)
    assert "sigma" not in reads and "mu" not in reads and bb.calls == 0


def test_declared_dims_are_checked_before_the_matrix_is_read(sets, tmp_path, reads):
    """A backbone that declares its output size refuses a file of another D from its
    header: the (possibly huge) matrix is never inflated."""
    gen, _ = sets
    path = tmp_path / "big.npz"
    np.savez(path, mu=np.zeros(300), sigma=np.eye(300))

    class Declared(PixelBackbone):
        output_dims = {"pool3": 64, "logits_unbiased": 10}

    reads.clear()
    with pytest.raises(UserError, match="300-d"):
        evaluate(gen, path, "fid", backbones={"inception": Declared()}, cache=False)
    assert "sigma" not in reads


def test_adm_batch_space_not_asked_is_not_validated(tmp_path, reads):
    path = tmp_path / "VIRTUAL_x.npz"
    d = adm_batches.SPATIAL_DIM
    np.savez(path, mu=np.zeros(2048), sigma=np.full((2048, 2048), np.nan), mu_s=np.zeros(d),
             sigma_s=np.eye(d) * 0.5 + 0.1)
    ref = adm_batches.read_adm_batches(path)
    assert reads == []  # headers only
    ref.load([("inception", "spatial")])
    assert reads == ["mu_s", "sigma_s"]
    with pytest.raises(UserError, match="NaN"):
        ref.stats_for("inception", "pool3")


def test_validation_runs_no_eigendecomposition(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("validation must not decompose the matrix")

    monkeypatch.setattr(np.linalg, "eigvalsh", forbidden)
    monkeypatch.setattr(np.linalg, "eigh", forbidden)
    x = np.random.default_rng(0).standard_normal((40, 64))
    sigma = np.cov(x, rowvar=False)  # N < D: singular, eigenvalues at rounding noise
    validate.validate_gaussian(x.mean(0), sigma, "ok.npz")
    validate.validate_gaussian(np.zeros(5), np.zeros((5, 5)), "zeros.npz")  # identical rows
    with pytest.raises(UserError, match="not positive semi-definite"):
        validate.validate_gaussian(np.zeros(64), sigma - 1e-4 * np.trace(sigma) * np.eye(64), "x.npz")
    negative_variance = np.eye(4)
    negative_variance[2, 2] = -1.0
    with pytest.raises(UserError, match="variance 2"):
        validate.validate_gaussian(np.zeros(4), negative_variance, "v.npz")
