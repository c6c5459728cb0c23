import multiprocessing as mp

import numpy as np

from genmetrics.features.cache import FeatureCache


def test_roundtrip_and_partial_rows_are_not_returned(tmp_path):
    with FeatureCache(tmp_path / "f.sqlite") as cache:
        v = np.arange(5, dtype=np.float32)
        cache.put_many("bb", [("h1", {"a": v, "b": v * 2}), ("h2", {"a": v})])
        got = cache.get_many("bb", ["h1", "h2", "h3"], ["a", "b"])
        assert set(got) == {"h1"}
        np.testing.assert_array_equal(got["h1"]["b"], v * 2)
        assert cache.get_many("other", ["h1"], ["a"]) == {}


def _writer(path, start):
    with FeatureCache(path) as cache:
        for i in range(start, start + 50):
            cache.put_many("bb", [(f"h{i}", {"a": np.full(16, i, np.float32)})])


def test_two_processes_share_the_cache(tmp_path):
    path = tmp_path / "f.sqlite"
    FeatureCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 25)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with FeatureCache(path) as cache:
        assert cache.count("bb") == 75
        got = cache.get_many("bb", [f"h{i}" for i in range(75)], ["a"])
        assert all(got[f"h{i}"]["a"][0] == i for i in range(75))
