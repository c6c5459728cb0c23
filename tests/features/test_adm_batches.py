"""ADM evaluator reference batches: statistics of both spaces, streamed images, refusals."""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.features.adm_batches import (
    adm_image_info,
    adm_items,
    is_adm_batches,
    iter_adm_images,
    read_adm_batches,
)
from genmetrics.features.reference import check_reference
from genmetrics.sources.decode import decode_image


def _cov(d, seed):
    return np.diag(np.random.default_rng(seed).uniform(0.5, 2.0, d))


@pytest.fixture(scope="module")
def adm(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("adm")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 8, 6, 3), dtype=np.uint8)
    path = tmp_path / "VIRTUAL_tiny.npz"
    np.savez(path, arr_0=images, mu=rng.standard_normal(2048), sigma=_cov(2048, 1),
             mu_s=rng.standard_normal(2023), sigma_s=_cov(2023, 2))
    return path, images


def test_reads_both_spaces_and_streams_images(adm):
    path, images = adm
    assert is_adm_batches(path)
    ref = read_adm_batches(path)
    with np.load(path) as data:
        np.testing.assert_array_equal(ref.stats_for("inception", "pool3").mean, data["mu"])
        np.testing.assert_allclose(ref.stats_for("inception", "spatial").cov, data["sigma_s"], rtol=1e-12)
    assert ref.spaces == [("inception", "pool3"), ("inception", "spatial")]
    assert ref.manifest["protocol"] == "tf1" and ref.stats.n == 7
    assert adm_image_info(path) == (7, (8, 6, 3))
    chunks = list(iter_adm_images(path, chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), images)
    feats = ref.features_for([("inception", "pool3"), ("inception", "spatial")])
    assert set(feats.gaussians) == {("inception", "pool3"), ("inception", "spatial")}
    with pytest.raises(UserError, match="holds statistics of inception:pool3, inception:spatial"):
        ref.stats_for("dinov2-vit-l14", "cls")


class _Inception:
    name = "inception"
    key = "inception-tf20151205/x/tf1@r2/fp32/v1"
    output_dims = {"pool3": 2048, "spatial": 2023}

    def __init__(self, protocol="tf1"):
        self.protocol = protocol

    def manifest(self):
        return {"protocol": self.protocol, "dtype": "fp32", "weights_sha256": "ab" * 32}


def test_checked_against_the_run(adm):
    ref = read_adm_batches(adm[0])
    check_reference(ref, _Inception(), output="spatial")
    with pytest.raises(UserError, match="protocol 'tf1'"):
        check_reference(ref, _Inception("clean"), output="pool3")


def test_not_adm(tmp_path):
    p = tmp_path / "s.npz"
    np.savez(p, mu=np.zeros(3), sigma=np.eye(3))
    assert not is_adm_batches(p)
    with pytest.raises(UserError, match="not an ADM"):
        read_adm_batches(p)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "compressed"])
def test_adm_items_read_each_image_alone(tmp_path, save):
    images = np.random.default_rng(0).integers(0, 256, (120, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "batch.npz"
    save(path, mu=np.zeros(3), sigma=np.eye(3), mu_s=np.zeros(3), sigma_s=np.eye(3), arr_0=images,
         arr_1=np.arange(120))
    items = adm_items(path)
    assert [i.id for i in items[:2]] == ["arr_0/00000", "arr_0/00001"] and len(items) == 120
    assert items[7].location == f"{path}!arr_0[7]"
    decode_image(items[0].read(), items[0].location)  # Pillow's PPM plugin loaded first
    tracemalloc.start()
    try:
        for k, item in enumerate(items):
            np.testing.assert_array_equal(decode_image(item.read(), item.location), images[k])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if save is np.savez:  # read at an offset in the .npz: one image (3 KiB) at a time,
        assert peak < 160 * 1024, peak  # plus Pillow's 64 KiB read block (all: 360 KiB)
    # items travel to Ray workers pickled; the copy opens the file itself
    again = pickle.loads(pickle.dumps(items[119]))
    np.testing.assert_array_equal(decode_image(again.read(), again.location), images[119])


def test_adm_items_without_images_name_the_fix(tmp_path):
    path = tmp_path / "stats_only.npz"
    np.savez(path, mu=np.zeros(3), sigma=np.eye(3), mu_s=np.zeros(3), sigma_s=np.eye(3))
    with pytest.raises(UserError, match="no images .'arr_0'.*precision.*folder of the reference"):
        adm_items(path)
