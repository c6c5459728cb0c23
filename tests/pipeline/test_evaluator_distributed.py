"""Evaluator.compute() under torch.distributed (2 gloo processes, torch.multiprocessing spawn):
the merged result equals one process fed the same images in rank order, on every rank or on
rank 0 only; a rank without images does not hang the job, nor does an error."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as mp

METRICS = "fid,kid,is,precision,recall,density,coverage"
OPTIONS = dict(batch_size=3, device="cpu", kid_subset_size=4, kid_subsets=6, is_splits=2, cache=False)
GEN = [(0, 7), (7, 11)]
"""Images of each rank (rank 0 takes the first seven)."""


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 20, 24, 3), dtype=np.uint8)


def _evaluator(**kw):
    import genmetrics
    from tests.fakes import PixelBackbone

    return genmetrics.Evaluator(METRICS, backbones={"inception": PixelBackbone()}, **{**OPTIONS, **kw})


def _summary(result) -> dict | None:
    if result is None:
        return None
    return {name: [m.value, m.std] for name, m in result.metrics.items()} | {
        "counts": [result.counts["generated"], result.counts["reference"]],
        "processes": result.manifest["evaluator"]["processes"]}


SCENARIOS = ("all", "idle", "rank0")
"""``all``: both ranks fed, results everywhere; ``idle``: rank 1 feeds nothing at all;
``rank0``: results on rank 0 only."""


def _worker(rank: int, world: int, rendezvous: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        gen, real = _images(11, 1), _images(9, 2)
        report: dict = {}
        for scenario in SCENARIOS:
            ev = _evaluator(results_on="rank0" if scenario == "rank0" else "all")
            lo, hi = GEN[rank] if scenario != "idle" else ((0, 11) if rank == 0 else (0, 0))
            for s in range(lo, hi, 3):
                ev.update(gen[s : min(s + 3, hi)])
            if scenario == "idle" and rank == 0:
                ev.update(real, real=True)
            elif scenario != "idle" and rank == 1:  # the real images all come through rank 1
                ev.update(real[:5], real=True)
                ev.update(real[5:], real=True)
            report[scenario] = _summary(ev.compute())
        empty = _evaluator()  # no rank has images: one error on every rank, no hang
        try:
            empty.compute()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            report["error"] = f"{type(exc).__name__}: {exc}"
        Path(out, f"rank{rank}.json").write_text(json.dumps(report))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[dict]:
    """Every scenario in one job of two spawned processes (start-up is the slow part)."""
    tmp = tmp_path_factory.mktemp("evaluator-dist")
    env_keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}
    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        mp.spawn(_worker, args=(2, str(tmp / "rdzv"), str(tmp)), nprocs=2, join=True)
    finally:
        os.environ.update(saved)
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = threads
    return [json.loads((tmp / f"rank{r}.json").read_text()) for r in range(2)]


def _one_process(gen_slices, real_batches) -> dict:
    ev = _evaluator()
    gen, real = _images(11, 1), _images(9, 2)
    for lo, hi in gen_slices:
        for s in range(lo, hi, 3):
            ev.update(gen[s : min(s + 3, hi)])
    for lo, hi in real_batches:
        ev.update(real[lo:hi], real=True)
    return _summary(ev.compute())


def _assert_same(single: dict, merged: dict) -> None:
    assert merged["counts"] == single["counts"]
    for name in METRICS.split(","):
        (a, a_std), (b, b_std) = single[name], merged[name]
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), name
        assert (a_std is None) == (b_std is None) and (a_std is None or b_std == pytest.approx(a_std, rel=1e-9)), name


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_two_gloo_processes_equal_one(scenario, reports):
    if scenario == "idle":  # rank 1 fed nothing at all
        single = _one_process([(0, 11)], [(0, 9)])
    else:
        single = _one_process(GEN, [(0, 5), (5, 9)])
    _assert_same(single, reports[0][scenario])
    assert reports[0][scenario]["processes"] == 2
    if scenario == "rank0":
        assert reports[1][scenario] is None
    else:
        assert reports[1][scenario] == reports[0][scenario]  # the same result on every rank


def test_an_error_reaches_every_rank(reports):
    assert reports[0]["error"].startswith("UserError: no generated images")
    assert reports[1]["error"].startswith("UserError: rank 0: no generated images")


def test_states_pickle_for_the_gather():
    """What compute() sends between ranks survives pickling unchanged."""
    ev = _evaluator()
    ev.update(_images(4, 3))
    ev.update(_images(3, 4), real=True)
    back = pickle.loads(pickle.dumps(ev._generated))
    assert back.n == 4 and np.array_equal(back.rows[("inception", "pool3")][0], ev._generated.rows[("inception", "pool3")][0])
