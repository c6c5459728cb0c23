"""The registered Inception backbone with the real weights from ../shared, end to end."""

import numpy as np
import pytest
import torch
from scipy import linalg

from genmetrics import evaluate
from genmetrics.cli.app import main
from genmetrics.errors import UserError
from genmetrics.protocols.resize import get_resize_protocol
from tests.conftest import shared_file

TS = "weights/inception/fid_inception_tf20151205_torchscript.pt"


@pytest.fixture(scope="module")
def torchscript():
    return torch.jit.load(str(shared_file(TS)), map_location="cpu").eval()


@pytest.fixture
def imported(capsys):
    path = shared_file(TS)
    assert main(["weights", "import", "inception", str(path)]) == 0
    assert "imported" in capsys.readouterr().out
    return path


@pytest.fixture(scope="module")
def photo_sets(real_photos):
    from PIL import Image

    names = sorted(real_photos)[:4]  # 4 + 4 images keep the check's power at 2/3 of the forwards
    # non-square, non-299 inputs (e.g. 512×768) as the protocols must handle
    gen = [np.asarray(Image.fromarray(real_photos[n]).resize((768, 512))) for n in names]
    real = [np.asarray(Image.fromarray(real_photos[n]).rotate(90, expand=True).resize((333, 401))) for n in names]
    return gen, real


def _fid(x, y):
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("protocol", ["clean", "tf1", "pytorch-fid"])
def test_features_equal_the_reference_torchscript(imported, torchscript, photo_sets, protocol):
    gen, real = photo_sets
    res = evaluate(gen, real, "fid", protocol=protocol, cache=False)
    resize = get_resize_protocol(protocol)

    def feats(images):
        x = torch.from_numpy(np.stack([resize(im, 299) for im in images]))
        with torch.no_grad():
            return torchscript((x - 128) / 128).double().numpy()

    fg, fr = feats(gen), feats(real)
    # FID from the reference network's features (N < D here, so compare the formula loosely)
    assert res["fid"] == pytest.approx(_fid(fg, fr), rel=1e-3)
    assert res.manifest["backbones"]["inception"]["protocol"] == protocol
    assert res.manifest["backbones"]["inception"]["weights_sha256"]


def test_pool3_only_weights_refuse_is_clearly(imported, photo_sets):
    gen, _ = photo_sets
    with pytest.raises(UserError, match="is needs Inception.s 1008-way logits"):
        evaluate(gen, None, "is", cache=False)


def test_cached_rerun_runs_no_forward(imported, photo_sets, tmp_path):
    gen, real = photo_sets
    first = evaluate(gen, real, "fid,kid", kid_subset_size=3, cache_dir=tmp_path)
    second = evaluate(gen, real, "fid,kid", kid_subset_size=3, cache_dir=tmp_path)
    assert first.counts["forwards"]["inception"] == 8
    assert second.counts["forwards"]["inception"] == 0
    assert second["fid"] == first["fid"]


def test_import_rejects_unknown_file(tmp_path, capsys):
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not weights")
    assert main(["weights", "import", "inception", str(bogus)]) == 2
    assert "not a known form" in capsys.readouterr().err
