import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.features.extract import FeatureRequest, extract_features
from genmetrics.sources.items import items_from
from tests.fakes import PixelBackbone, write_images

REQS = [FeatureRequest("inception", "pool3"), FeatureRequest("inception", "pool3", "gaussian")]


def test_one_forward_per_image_and_cached_rerun(tmp_path):
    write_images(tmp_path / "imgs", 10)
    items = items_from(tmp_path / "imgs")
    bb = PixelBackbone()
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        first = extract_features(items, {"inception": bb}, REQS, cache=cache, batch_size=4)
        assert bb.images == 10 and first.forwards["inception"] == 10
        second = extract_features(items, {"inception": bb}, REQS, cache=cache, batch_size=4)
    assert bb.images == 10  # no forward on the re-run
    assert second.cache_hits["inception"] == 10
    np.testing.assert_array_equal(first.array("inception", "pool3"), second.array("inception", "pool3"))
    stats = second.gaussian("inception", "pool3").to_arrays()
    np.testing.assert_allclose(stats["mu"], first.array("inception", "pool3").mean(0), atol=1e-6)


def test_interrupted_run_resumes(tmp_path):
    write_images(tmp_path / "imgs", 12)
    items = items_from(tmp_path / "imgs")

    class Boom(PixelBackbone):
        def forward(self, batch):
            if self.calls == 1:
                raise KeyboardInterrupt
            return super().forward(batch)

    with FeatureCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(KeyboardInterrupt):
            extract_features(items, {"inception": Boom()}, REQS, cache=cache, batch_size=2)
        done_before = cache.count()
        assert done_before == 2 * 2  # one finished batch of 2 images, 2 outputs each
        bb = PixelBackbone()
        res = extract_features(items, {"inception": bb}, REQS, cache=cache, batch_size=2)
    assert len(res) == 12
    assert bb.images == 12 - 2


def test_bad_files_are_skipped_and_counted_or_fail_strict(tmp_path):
    write_images(tmp_path / "imgs", 4)
    (tmp_path / "imgs" / "zero.png").write_bytes(b"")
    (tmp_path / "imgs" / "text.jpg").write_text("not a jpeg")
    items = items_from(tmp_path / "imgs")
    warnings = []
    res = extract_features(items, {"inception": PixelBackbone()}, REQS, warn=warnings.append)
    assert len(res) == 4 and len(res.skipped) == 2
    assert any("zero.png" in w for w in warnings)
    with pytest.raises(UserError, match="text.jpg|zero.png"):
        extract_features(items, {"inception": PixelBackbone()}, REQS, strict=True)


def test_unchanged_files_are_not_reread_and_changed_ones_are(tmp_path, monkeypatch):
    import os

    from PIL import Image

    from genmetrics.features import prepare as extract_mod

    paths = write_images(tmp_path / "imgs", 6)
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        extract_features(items_from(tmp_path / "imgs"), {"inception": PixelBackbone()}, REQS, cache=cache)
        reads = []
        real_read = extract_mod._read
        monkeypatch.setattr(extract_mod, "_read", lambda item: (reads.append(item.id), real_read(item))[1])
        bb = PixelBackbone()
        extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, REQS, cache=cache)
        assert reads == [] and bb.images == 0  # hashes from (size, mtime); features from the cache
        # rewrite one file with other pixels (same size on disk is irrelevant: mtime changes)
        Image.fromarray(np.full((24, 32, 3), 7, np.uint8)).save(paths[2])
        os.utime(paths[2], ns=(1, 10**18))
        res = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, REQS, cache=cache)
    assert reads == ["img002"] and bb.images == 1
    assert np.allclose(res.array("inception", "pool3")[2], 7 / 255, atol=1e-6)


def test_decoded_pixels_in_flight_stay_within_the_budget(tmp_path, monkeypatch):
    """Each image is decoded and preprocessed in one step under the pixel budget: with a
    budget of two images, no more than two full-resolution images are ever alive at once,
    whatever the number of decode threads."""
    import threading
    import time

    from genmetrics.features import prepare as extract_mod

    write_images(tmp_path / "big", 12, size=(100, 100))
    monkeypatch.setattr(extract_mod, "DECODE_BUDGET_PIXELS", 2 * 100 * 100)
    alive, peak, lock = [0], [0], threading.Lock()

    class Tracking(PixelBackbone):
        def preprocess(self, image):
            with lock:
                alive[0] += 1
                peak[0] = max(peak[0], alive[0])
            time.sleep(0.01)
            out = super().preprocess(image)
            with lock:
                alive[0] -= 1
            return out

    items = items_from(tmp_path / "big")
    feats = extract_features(items, {"inception": Tracking()}, [FeatureRequest("inception", "pool3")], workers=8)
    assert len(feats) == 12 and peak[0] == 2


def test_pixel_budget_lets_an_oversized_image_through_alone():
    import threading

    from genmetrics.features.prepare import PixelBudget

    budget = PixelBudget(100)
    order = []
    with budget.hold(10**9):  # larger than the budget: takes all of it
        t = threading.Thread(target=lambda: (budget.hold(1).__enter__(), order.append("small")))
        t.start()
        t.join(0.05)
        assert order == []  # waits while the big one is held
    t.join(2)
    assert order == ["small"]


def test_out_of_device_memory_halves_the_batch_and_loses_nothing(tmp_path):
    """A backbone that runs out of memory above 3 images per batch: the batch size is halved
    until it fits, every image is still computed once, and the size used is reported."""

    class OutOfMemoryError(RuntimeError):
        pass

    class Small(PixelBackbone):
        def forward(self, batch):
            if len(batch) > 3:
                raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().forward(batch)

    write_images(tmp_path / "imgs", 10)
    bb = Small()
    res = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, REQS, batch_size=8)
    assert len(res) == 10 and bb.images == 10 and res.batch_sizes == {"inception": 2}
    ref = extract_features(items_from(tmp_path / "imgs"), {"inception": PixelBackbone()}, REQS)
    np.testing.assert_array_equal(res.array("inception", "pool3"), ref.array("inception", "pool3"))


def test_other_errors_in_a_forward_are_not_taken_for_memory(tmp_path):
    class Broken(PixelBackbone):
        def forward(self, batch):
            raise RuntimeError("shape mismatch")

    write_images(tmp_path / "imgs", 3)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        extract_features(items_from(tmp_path / "imgs"), {"inception": Broken()}, REQS)


def test_overlap_only_when_a_network_runs_off_the_cpu():
    """Decoding runs ahead of the networks only on an accelerator (``Backbone.device_type``,
    from a ``device`` attribute or an ``encoder``'s); on the CPU the stages alternate."""
    from types import SimpleNamespace

    from genmetrics.features.extract import _on_accelerator
    from tests.fakes import PixelBackbone

    cpu, gpu, encoded = PixelBackbone(), PixelBackbone(), PixelBackbone()
    gpu.device = "cuda:1"
    encoded.encoder = SimpleNamespace(device="mps")
    assert (cpu.device_type, gpu.device_type, encoded.device_type) == ("cpu", "cuda", "mps")
    assert not _on_accelerator([cpu]) and _on_accelerator([cpu, gpu]) and _on_accelerator([encoded])
