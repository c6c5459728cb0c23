"""Distributed evaluation gives the numbers of one process: torchrun (gloo, 2 processes) and a
local Ray cluster (2 workers), on the real Inception architecture with random weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.fakes import write_images

METRICS = "fid,kid,is,precision,recall,density,coverage"
OPTIONS = ["--kid-subset-size", "8", "--kid-subsets", "10", "--is-splits", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from safetensors.torch import save_file

    from tests.backbones.inception.test_network import random_inception

    path = tmp_path_factory.mktemp("weights") / "inception-random.safetensors"
    save_file({k: v.contiguous() for k, v in random_inception(seed=5).state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    write_images(root / "gen", 13, seed=1, size=(40, 56))  # odd count: shards of 7 and 6
    write_images(root / "real", 12, seed=2, size=(48, 40))
    return root


def _env(weights: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "GENMETRICS_PLUGINS": "tests.pipeline.plugin",
           "GENMETRICS_TEST_INCEPTION": str(weights), "GENMETRICS_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1", **extra}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _evaluate(prefix: list[str], sets: Path, env: dict[str, str], extra=()) -> subprocess.CompletedProcess:
    args = [*prefix, "evaluate", str(sets / "gen"), "--reference", str(sets / "real"),
            "--metrics", METRICS, *OPTIONS, "--format", "json", "--device", "cpu", *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


SINGLE = [sys.executable, "-m", "genmetrics"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "genmetrics"]


def _same_numbers(one: dict, many: dict) -> None:
    for name, value in one["metrics"].items():
        other = many["metrics"][name]
        assert other["value"] == pytest.approx(value["value"], rel=1e-9, abs=1e-12), name
        for key in ("std", "ci95"):
            if key in value:
                assert np.allclose(other[key], value[key], rtol=1e-9, atol=1e-15), (name, key)
    assert one["counts"]["generated"] == many["counts"]["generated"] == 13
    assert one["counts"]["reference"] == many["counts"]["reference"] == 12


@pytest.fixture(scope="module")
def single(weights, image_sets, tmp_path_factory):
    proc = _evaluate(SINGLE, image_sets, _env(weights, tmp_path_factory.mktemp("home1")))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(weights, image_sets, single, tmp_path):
    proc = _evaluate(TORCHRUN, image_sets, _env(weights, tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr
    many = json.loads(proc.stdout)  # one JSON document: only rank 0 prints
    _same_numbers(single, many)
    # rank 0's progress counts the images of both ranks (the rendezvous store's counter)
    assert "13/13" in proc.stderr and "12/12" in proc.stderr
    # every image extracted exactly once over both ranks (no padding, no duplicates)
    assert many["counts"]["forwards"]["inception"] == 25
    same = {k: v for k, v in single["manifest"].items() if k not in ("created", "command")}
    assert {k: v for k, v in many["manifest"].items() if k in same} == same


@pytest.mark.slow
def test_killed_rank_then_rerun_gives_the_same_numbers(weights, image_sets, single, tmp_path):
    home = tmp_path / "home"
    dying = _env(weights, home, GENMETRICS_TEST_DIE_RANK="1", GENMETRICS_TEST_DIE_AFTER="2")
    proc = _evaluate(TORCHRUN, image_sets, dying)
    assert proc.returncode != 0
    rerun = _evaluate(TORCHRUN, image_sets, _env(weights, home))
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    _same_numbers(single, again)
    # the dead rank's finished batches came from the cache
    assert sum(again["counts"]["cache_hits"].values()) > 0


@pytest.mark.slow
def test_ray_local_cluster_equals_one_process(weights, image_sets, single, tmp_path):
    pytest.importorskip("ray")
    env = _env(weights, tmp_path / "home", RAY_ENABLE_UV_RUN_RUNTIME_ENV="0")
    proc = _evaluate(SINGLE, image_sets, env, extra=["--ray", "local"])
    assert proc.returncode == 0, proc.stderr
    _same_numbers(single, json.loads(proc.stdout))


def test_torchrun_bad_input_is_one_line_from_rank_zero(weights, tmp_path):
    proc = subprocess.run(
        [*TORCHRUN, "evaluate", str(tmp_path / "missing"), "--metrics", "is", "--device", "cpu"],
        env=_env(weights, tmp_path / "home"), capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("error: ") == 1 and "no such file or folder" in proc.stderr


def test_shard_bounds_are_exact():
    from genmetrics.distributed import shard_bounds

    for n in range(0, 30):
        for count in range(1, 6):
            for batch in (1, 3, 4):
                spans = [shard_bounds(n, i, count, batch) for i in range(count)]
                covered = [k for lo, hi in spans for k in range(lo, hi)]
                assert covered == list(range(n))  # disjoint, in order, nothing padded
                assert all(lo % batch == 0 for lo, hi in spans if hi > lo)
                sizes = [hi - lo for lo, hi in spans]
                assert max(sizes) - min(sizes) <= batch


