"""Per-set Gaussian statistics kept in the cache (genmetrics.features.set_stats)."""

import os

import numpy as np
import pytest

from genmetrics.errors import UserError
from genmetrics.features import set_stats
from genmetrics.features.cache import FeatureCache
from genmetrics.features.extract import FeatureRequest, cache_key, extract_features
from genmetrics.features.gaussian import GaussianStats
from genmetrics.features.set_stats import RowFolder, load_state, set_key, store_state
from genmetrics.metrics.distribution import _stats_digest
from genmetrics.sources.items import items_from
from tests.fakes import PixelBackbone, write_images

GAUSS = [FeatureRequest("inception", "pool3", "gaussian")]


def _state(stats: GaussianStats):
    s = stats.state()
    return s["n"], s["mean"].tobytes(), s["scatter"].tobytes()


def test_fold_is_independent_of_how_rows_arrive():
    rows = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    states = []
    for step in (1, 7, 128, 300):
        folder = RowFolder(GaussianStats())
        for s in range(0, len(rows), step):
            folder.add(list(rows[s : s + step]))
        states.append(_state(folder.finish()))
    assert all(s == states[0] for s in states)  # bit for bit
    direct = GaussianStats()
    for s in range(0, 300, set_stats.FOLD_BLOCK):
        direct.update(rows[s : s + set_stats.FOLD_BLOCK])
    assert _state(direct) == states[0]


def test_stored_state_reads_back_bit_for_bit_and_lazily(tmp_path, monkeypatch):
    rows = np.random.default_rng(1).standard_normal((300, 32))
    stats = GaussianStats().update(rows)
    digests = [f"d{i}" for i in range(300)]
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        store_state(cache, "bb", "o", digests, stats)
        k1 = set_key("bb", "o", digests)
        assert stats.content_key == k1
        back = load_state(cache, "bb", "o", digests)
        assert back is not None and back.content_key == k1 and back.n == 300
        assert back._loader is not None  # the D x D matrix is not read yet
        assert _stats_digest(back, back) == _stats_digest(stats, stats)  # named, not hashed
        np.testing.assert_array_equal(back.mean, stats.mean)
        assert back._loader is not None  # the mean needs no matrix
        np.testing.assert_array_equal(back.cov, stats.cov)
        assert _state(back) == _state(stats)
        assert load_state(cache, "bb", "o", digests[::-1]) is None  # another order: another set
        assert load_state(cache, "bb", "other", digests) is None
        late = load_state(cache, "bb", "o", digests)
    assert late is not None
    np.testing.assert_array_equal(late.cov, stats.cov)  # read after the cache was closed


def test_small_sets_are_not_stored(tmp_path):
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        small = GaussianStats().update(np.ones((set_stats.MIN_ROWS - 1, 4)) * np.arange(4))
        digests = [str(i) for i in range(set_stats.MIN_ROWS - 1)]
        store_state(cache, "bb", "o", digests, small)
        assert small.content_key is None and load_state(cache, "bb", "o", digests) is None


def test_a_scatter_lost_meanwhile_is_one_clear_error(tmp_path):
    stats = GaussianStats().update(np.random.default_rng(2).standard_normal((300, 8)))
    digests = [str(i) for i in range(300)]
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        store_state(cache, "bb", "o", digests, stats)
        back = load_state(cache, "bb", "o", digests)
        cache._write("DELETE FROM features WHERE output = ?", [("scatter/00003",)])
        with pytest.raises(UserError, match="disappeared or were damaged during this run"):
            _ = back.cov


def test_adding_rows_drops_the_name():
    stats = GaussianStats().update(np.eye(3))
    stats.content_key = "k"
    stats.update(np.eye(3))
    assert stats.content_key is None


def test_warm_pass_reads_no_row_and_gives_the_same_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(set_stats, "MIN_ROWS", 4)
    paths = write_images(tmp_path / "imgs", 10)
    bb = PixelBackbone()
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        first = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, GAUSS,
                                 cache=cache, batch_size=4)
        key = first.gaussian("inception", "pool3").content_key
        assert key == set_key(cache_key(bb), "pool3", first.hashes)
        reads = []
        real = cache.get_many
        monkeypatch.setattr(cache, "get_many", lambda b, *a: (reads.append(b), real(b, *a))[1])
        done = []
        second = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, GAUSS,
                                  cache=cache, batch_size=2,  # another batch size: same state
                                  progress=done.append)
        assert sum(done) == 10
        assert reads == [cache_key(bb) + set_stats.STATE_SUFFIX]  # count and mean, no row
        assert second.hashes == first.hashes and second.ids == first.ids
        assert second.cache_hits == {"inception": 10} and second.forwards == {"inception": 0}
        assert _state(second.gaussian("inception", "pool3")) == _state(first.gaussian("inception", "pool3"))
        # a changed file: another set, folded from its rows and stored under its own name
        from PIL import Image

        Image.fromarray(np.full((24, 32, 3), 9, np.uint8)).save(paths[3])
        os.utime(paths[3], ns=(1, 10**18))
        third = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, GAUSS,
                                 cache=cache)
        assert bb.images == 11
        assert third.gaussian("inception", "pool3").content_key not in (None, key)
        assert not np.array_equal(third.gaussian("inception", "pool3").mean,
                                  first.gaussian("inception", "pool3").mean)
        # rows asked too: rows read, the stored statistics used as they are
        both = extract_features(items_from(tmp_path / "imgs"), {"inception": bb},
                                [*GAUSS, FeatureRequest("inception", "pool3")], cache=cache)
        assert both.array("inception", "pool3").shape == (10, 64)
        assert both.gaussian("inception", "pool3").content_key == third.gaussian("inception", "pool3").content_key


def test_stored_statistics_are_not_used_when_a_file_is_skipped_this_time(tmp_path, monkeypatch):
    from genmetrics.errors import ImageDecodeError
    from genmetrics.features import prepare

    monkeypatch.setattr(set_stats, "MIN_ROWS", 4)
    write_images(tmp_path / "imgs", 10)
    bb = PixelBackbone()
    both = [*GAUSS, FeatureRequest("inception", "pool3")]
    with FeatureCache(tmp_path / "c.sqlite") as cache:
        first = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, both, cache=cache)
        # the row of one image is lost and, this time, the image cannot be decoded
        cache._write("DELETE FROM features WHERE backbone = ? AND content = ?",
                     [(cache_key(bb), first.hashes[4])])
        real = prepare._decode_and_preprocess

        def failing(item, *args):
            if item.id == "img004":
                raise ImageDecodeError(item.location, "broken")
            return real(item, *args)

        monkeypatch.setattr(prepare, "_decode_and_preprocess", failing)
        again = extract_features(items_from(tmp_path / "imgs"), {"inception": bb}, both,
                                 cache=cache, warn=lambda m: None)
    assert len(again) == 9 and len(again.skipped) == 1
    stats = again.gaussian("inception", "pool3")
    assert stats.n == 9 and stats.content_key != first.gaussian("inception", "pool3").content_key
    np.testing.assert_allclose(stats.mean, again.array("inception", "pool3").mean(0), atol=1e-7)
