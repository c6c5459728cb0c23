"""Reference statistics files: manifest, checks against the running backbone, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genmetrics import __version__, evaluate
from genmetrics.cli.app import main
from genmetrics.errors import UserError
from genmetrics.features import reference
from genmetrics.features.gaussian import GaussianStats
from genmetrics.pipeline.reference import compute_reference_stats
from tests.fakes import PixelBackbone, patch_backbones, write_images


class DimsBackbone(PixelBackbone):
    """A fake that declares its output sizes and carries weights/dtype in its manifest."""

    output_dims = {"pool3": 64, "logits_unbiased": 10}

    def __init__(self, tag: str = "v1", sha: str = "ab" * 32, dtype: str = "fp32") -> None:
        super().__init__(tag)
        self.sha, self.dtype = sha, dtype

    def manifest(self):
        return {**super().manifest(), "weights_sha256": self.sha, "dtype": self.dtype}


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 12, seed=1)
    write_images(tmp_path / "real", 12, seed=2)
    return tmp_path / "gen", tmp_path / "real"


@pytest.fixture
def fake(monkeypatch):
    holder = {"bb": PixelBackbone()}
    patch_backbones(monkeypatch, lambda name, opts: holder["bb"])
    return holder


def _write(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _error(capsys) -> str:
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_round_trip_and_pytorch_fid_keys(sets, tmp_path):
    gen, real = sets
    bb = PixelBackbone()
    path, n = compute_reference_stats(real, tmp_path / "ref.npz", protocol="tf1", backbone=bb,
                                      cache=False)
    assert n == 12
    with np.load(path) as data:  # what pytorch-fid reads
        mu, sigma = data["mu"][:], data["sigma"][:]
    ref = reference.read_reference_stats(path)
    m = ref.manifest
    assert m["format"] == reference.FORMAT
    assert (m["backbone"], m["output"], m["key"], m["protocol"]) == ("inception", "pool3", "fake-pixels/v1", "tf1")
    assert (m["n"], m["dim"], m["genmetrics"]) == (12, 64, __version__)
    assert "libraries" in m and "decode_policy" in m
    np.testing.assert_array_equal(ref.stats.mean, mu)
    np.testing.assert_allclose(ref.stats.cov, sigma, rtol=1e-12)
    assert ref.stats.n == 12

    from_images = evaluate(gen, real, "fid", protocol="tf1", backbones={"inception": bb}, cache=False)
    from_npz = evaluate(gen, path, "fid", protocol="tf1", backbones={"inception": bb}, cache=False)
    assert from_npz["fid"] == pytest.approx(from_images["fid"], rel=1e-9)
    assert from_npz.manifest["reference_manifest"]["key"] == "fake-pixels/v1"


def test_protocol_mismatch_names_both_before_any_forward(sets, fake, tmp_path, capsys):
    gen, real = sets
    out, _ = compute_reference_stats(real, tmp_path / "stats.npz", protocol="tf1",
                                     backbone=PixelBackbone(), cache=False)
    assert main(["evaluate", str(gen), "-r", str(out), "-m", "fid", "--no-cache"]) == 2
    err = _error(capsys)
    assert err == (f"error: {out} was made with protocol 'tf1' but this run uses 'clean'; "
                   "recompute it with genmetrics stats --protocol clean or pass --protocol tf1")
    assert fake["bb"].calls == 0
    assert main(["evaluate", str(gen), "-r", str(out), "-m", "fid", "--protocol", "tf1", "--no-cache"]) == 0


def test_backbone_key_mismatch(sets, fake, tmp_path, capsys):
    gen, real = sets
    out, _ = compute_reference_stats(real, tmp_path / "stats.npz", backbone=PixelBackbone(),
                                     cache=False)
    fake["bb"] = PixelBackbone("v2")
    assert main(["evaluate", str(gen), "-r", str(out), "-m", "fid", "--no-cache"]) == 2
    err = _error(capsys)
    assert "backbone key 'fake-pixels/v1' but this run uses 'fake-pixels/v2'" in err
    assert str(out) in err and fake["bb"].calls == 0


@pytest.mark.parametrize(
    "made, run, needle",
    [
        (dict(sha="ab" * 32), dict(sha="cd" * 32), "weights sha256 '" + "ab" * 32),
        (dict(dtype="fp64"), dict(dtype="fp32"), "dtype 'fp64' but this run uses 'fp32'; pass --dtype fp64"),
    ],
)
def test_weights_and_dtype_mismatch(sets, tmp_path, made, run, needle):
    gen, real = sets
    path, _ = compute_reference_stats(real, tmp_path / "s.npz", backbone=DimsBackbone(**made), cache=False)
    with pytest.raises(UserError, match="was made with") as err:
        evaluate(gen, path, "fid", backbones={"inception": DimsBackbone(**run)}, cache=False)
    assert needle in str(err.value)


def test_early_manifest_is_still_checked(sets, tmp_path):
    """Files written before the manifest had its own fields (``backbones.inception``)."""
    gen, real = sets
    stats = GaussianStats().update(np.random.default_rng(0).standard_normal((20, 64)))
    early = {"protocol": "tf1", "backbones": {"inception": {"name": "inception", "key": "fake-pixels/v1"}}}
    path = reference.save_reference_stats(stats, tmp_path / "early.npz", early)
    with pytest.raises(UserError, match="protocol 'tf1' but this run uses 'clean'"):
        evaluate(gen, path, "fid", backbones={"inception": PixelBackbone()}, cache=False)


def test_npz_without_manifest_warns_and_works(sets, tmp_path):
    gen, real = sets
    stats = GaussianStats().update(np.random.default_rng(0).standard_normal((20, 64)))
    path = _write(tmp_path / "pytorch_fid.npz", mu=stats.mean, sigma=stats.cov)
    with pytest.warns(UserWarning, match="no manifest") as caught:
        res = evaluate(gen, path, "fid", backbones={"inception": PixelBackbone()}, cache=False)
    message = str(caught[0].message)
    assert str(path) in message and "Inception pool3 (2048-d)" in message and "'clean'" in message
    assert res["fid"] >= 0
    assert res.manifest["reference_manifest"] is None
    assert res.manifest["reference_assumed"].startswith("Inception pool3 (2048-d)")


def test_npz_without_manifest_via_cli(sets, fake, tmp_path, capsys):
    gen, _ = sets
    path = _write(tmp_path / "plain.npz", mu=np.zeros(64), sigma=np.eye(64))
    with pytest.warns(UserWarning, match="no manifest"):
        assert main(["evaluate", str(gen), "-r", str(path), "-m", "fid", "--no-cache"]) == 0


def _asym():
    s = np.eye(64)
    s[0, 1] = 0.5
    return s


BAD = [
    pytest.param(dict(mu=np.zeros(64), sigma=-np.eye(64)), "not positive semi-definite", id="minus-identity"),
    pytest.param(dict(mu=np.full(64, np.nan), sigma=np.eye(64)), "NaN", id="nan-mu"),
    pytest.param(dict(mu=np.zeros(64), sigma=np.where(np.eye(64) > 0, np.inf, 0)), "NaN or infinite", id="inf-sigma"),
    pytest.param(dict(mu=np.zeros(64), sigma=_asym()), "not symmetric", id="asymmetric"),
    pytest.param(dict(mu=np.zeros(64), sigma=np.eye(32)), "(D, D)", id="sizes-disagree"),
    pytest.param(dict(mu=np.zeros(64), sigma=np.eye(64), n=np.int64(1)), "'n' must be an integer", id="n-1"),
    pytest.param(dict(mu=np.zeros(64), sigma=np.eye(64), n=np.float64(2.5)), "'n' must be an integer", id="n-fraction"),
    pytest.param(dict(mu=np.zeros(64), sigma=np.eye(64), manifest=np.array("{not json")), "not valid JSON", id="bad-manifest"),
    pytest.param(dict(mean=np.zeros(64), cov=np.eye(64)), "'mu' and 'sigma'", id="wrong-keys"),
]


@pytest.mark.parametrize("arrays, needle", BAD)
def test_invalid_statistics_exit_2_naming_the_file(sets, fake, tmp_path, capsys, arrays, needle):
    gen, _ = sets
    path = _write(tmp_path / "bad-stats.npz", **arrays)
    assert main(["evaluate", str(gen), "-r", str(path), "-m", "fid", "--no-cache"]) == 2
    err = _error(capsys)
    assert str(path) in err and needle in err
    assert fake["bb"].calls == 0


def test_corrupt_file(sets, fake, tmp_path, capsys):
    gen, _ = sets
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    assert main(["evaluate", str(gen), "-r", str(path), "-m", "fid", "--no-cache"]) == 2
    assert str(path) in _error(capsys)


def test_wrong_dimension(sets, fake, tmp_path, capsys):
    gen, _ = sets
    path = _write(tmp_path / "ten.npz", mu=np.zeros(10), sigma=np.eye(10), n=np.int64(50))
    # dimension unknown before extraction (fake backbone): caught once features exist
    with pytest.warns(UserWarning):
        assert main(["evaluate", str(gen), "-r", str(path), "-m", "fid", "--no-cache"]) == 2
    err = _error(capsys)
    assert str(path) in err and "10-d" in err and "64-d" in err
    # declared output sizes: caught before any forward
    fake["bb"] = DimsBackbone()
    assert main(["evaluate", str(gen), "-r", str(path), "-m", "fid", "--no-cache"]) == 2
    assert "10-d" in _error(capsys) and fake["bb"].calls == 0


def test_validation_tolerances():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 64))  # N < D: singular, eigenvalues at rounding noise
    sigma = np.cov(x, rowvar=False)
    reference.validate_gaussian(x.mean(0), sigma, "ok.npz")
    reference.validate_gaussian(x.mean(0).astype(np.float32), sigma.astype(np.float32), "ok32.npz")
    assert reference.tolerance(2048, np.dtype(np.float64)) == 1e-6
    assert 1e-6 < reference.tolerance(2048, np.dtype(np.float32)) < 1e-4
    slightly = sigma - 1e-3 * np.abs(np.linalg.eigvalsh(sigma)).max() * np.eye(64)
    with pytest.raises(UserError, match="x.npz: the covariance is not positive semi-definite"):
        reference.validate_gaussian(x.mean(0), slightly, "x.npz")


def test_manifest_not_an_object(tmp_path):
    path = _write(tmp_path / "list.npz", mu=np.zeros(4), sigma=np.eye(4), manifest=np.array(json.dumps([1])))
    with pytest.raises(UserError, match="list.npz: its 'manifest' is not a JSON object"):
        reference.read_reference_stats(path)


def test_stats_command_then_evaluate(sets, fake, tmp_path, capsys):
    """The whole CLI flow: ``stats --protocol tf1`` then ``evaluate`` with and without it."""
    gen, real = sets
    out = tmp_path / "real_stats.npz"
    assert main(["stats", str(real), "--out", str(out), "--protocol", "tf1"]) == 0
    m = reference.read_reference_stats(out).manifest
    assert (m["protocol"], m["key"], m["n"]) == ("tf1", "fake-pixels/v1", 12)
    capsys.readouterr()
    assert main(["evaluate", str(gen), "-r", str(out), "-m", "fid"]) == 2
    assert "protocol 'tf1' but this run uses 'clean'" in _error(capsys)
    assert main(["evaluate", str(gen), "-r", str(out), "-m", "fid", "--protocol", "tf1"]) == 0


class _Space:
    """A backbone stand-in: name, key and manifest of one feature space."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.key, self.output_dims = name, f"{name}/k/v1", {"cls": dim, "pool3": dim}

    def manifest(self):
        return {"protocol": "clean", "dtype": "fp32", "weights_sha256": "cd" * 32,
                "preprocess": "dgm-eval-bicubic224"}


def _gauss(n: int, d: int, seed: int) -> GaussianStats:
    return GaussianStats().update(np.random.default_rng(seed).standard_normal((n, d)))


def test_any_feature_space_round_trips_and_refuses_another(tmp_path):
    dino, incep = _Space("dinov2-vit-l14", 6), _Space("inception", 4)
    a, b = _gauss(20, 6, 0), _gauss(20, 4, 1)
    path = reference.save_reference_stats(
        a, tmp_path / "s.npz", reference.stats_manifest(dino, "cls", "clean", 20, 6),
        extra_spaces=[(b, reference.stats_manifest(incep, "pool3", "clean", 20, 4))],
    )
    ref = reference.read_reference_stats(path)
    assert ref.spaces == [("dinov2-vit-l14", "cls"), ("inception", "pool3")]
    assert ref.manifest["feature_space"] == "dinov2-vit-l14:cls"
    assert ref.manifest["preprocess"] == "dgm-eval-bicubic224"
    np.testing.assert_allclose(ref.stats_for("inception", "pool3").cov, b.cov, rtol=1e-12)
    assert ref.stats_for("inception", "pool3").n == 20
    reference.check_reference(ref, dino, output="cls")
    reference.check_reference(ref, incep, output="pool3")
    with pytest.raises(UserError, match=r"holds statistics of dinov2-vit-l14:cls, inception:pool3, "
                                        r"not of clip-vit-l-14:cls.*--features clip-vit-l-14"):
        reference.check_reference(ref, _Space("clip-vit-l-14", 6), output="cls")
    feats = ref.features_for([("inception", "pool3"), ("dinov2-vit-l14", "cls")])
    assert len(feats.gaussians) == 2


def test_file_without_manifest_only_serves_inception_pool3(tmp_path):
    path = tmp_path / "p.npz"
    g = _gauss(30, 6, 2)
    np.savez(path, mu=g.mean, sigma=g.cov)
    ref = reference.read_reference_stats(path)
    with pytest.raises(UserError, match="no manifest.*--features dinov2-vit-l14"):
        reference.check_reference(ref, _Space("dinov2-vit-l14", 6), output="cls")
