"""A Ray run never waits silently (issue 17): ``--ray local`` starts its own cluster (it used
to join any cluster ``ray start`` left on the machine, and waited without a word for CPUs
another job held), the cluster start and every wait for tasks are bounded, a stall is said
on stderr, and a task's one-line error (``--strict`` and a bad image) ends the run at once."""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

from genmetrics import distributed
from genmetrics.errors import UserError
from tests.conftest import ROOT
from tests.fakes import write_images


class _FakeRay:
    """Stands in for the ``ray`` module where only ``ray.init`` is exercised."""

    def __init__(self, init) -> None:
        self.init = init

    @staticmethod
    def is_initialized() -> bool:
        return False


def _with_fake_ray(monkeypatch, init) -> None:
    pytest.importorskip("ray")
    monkeypatch.setitem(sys.modules, "ray", _FakeRay(init))


def test_local_starts_a_private_cluster_never_an_existing_one(monkeypatch):
    seen = {}
    _with_fake_ray(monkeypatch, lambda **kw: seen.update(kw))
    distributed.ray_init("local", timeout=30)
    assert seen["address"] == "local"  # ray.init(address=None) joins /tmp/ray's last cluster
    seen.clear()
    distributed.ray_init("auto", timeout=30)
    assert seen["address"] == "auto"


def test_cluster_start_is_bounded_and_failures_are_one_line(monkeypatch):
    _with_fake_ray(monkeypatch, lambda **kw: time.sleep(5))
    started = time.monotonic()
    with pytest.raises(UserError, match=r"a local Ray cluster did not start within 0.5 s; "
                                        r".*ray status.*GENMETRICS_RAY_TIMEOUT=SECONDS"):
        distributed.ray_init("local", timeout=0.5)
    assert time.monotonic() - started < 4

    def refuse(**kw):
        raise ConnectionError("could not reach the GCS\nsecond line")

    _with_fake_ray(monkeypatch, refuse)
    with pytest.raises(UserError) as info:
        distributed.ray_init("ray://nowhere:10001", timeout=30)
    assert str(info.value) == (
        "cannot start the Ray cluster at ray://nowhere:10001 (could not reach the GCS)")


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GENMETRICS_RAY_TIMEOUT", raising=False)
    assert distributed.ray_timeout() == distributed.DEFAULT_RAY_TIMEOUT
    monkeypatch.setenv("GENMETRICS_RAY_TIMEOUT", "12.5")
    assert distributed.ray_timeout() == 12.5
    monkeypatch.setenv("GENMETRICS_RAY_TIMEOUT", "0")
    assert distributed.ray_timeout() is None  # no bound, still the 'waiting' lines
    for bad in ("soon", "-3", "inf", "nan"):
        monkeypatch.setenv("GENMETRICS_RAY_TIMEOUT", bad)
        with pytest.raises(UserError, match="GENMETRICS_RAY_TIMEOUT=.*seconds"):
            distributed.ray_timeout()


# --- a real local cluster (2 CPUs of this machine) -----------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from safetensors.torch import save_file

    from tests.backbones.inception.test_network import random_inception

    path = tmp_path_factory.mktemp("weights") / "inception-random.safetensors"
    save_file({k: v.contiguous() for k, v in random_inception(seed=5).state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def ray(weights):
    """A local cluster whose workers register the random-weight Inception of the test plugin
    (workers inherit the environment the cluster starts with)."""
    pytest.importorskip("ray")
    env = {"GENMETRICS_PLUGINS": "tests.pipeline.plugin", "GENMETRICS_TEST_INCEPTION": str(weights),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        module = distributed.ray_init("local", timeout=240)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield module
    module.shutdown()


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 1


def _refuse(message: str) -> int:
    raise UserError(message)


@pytest.mark.slow
def test_a_stall_is_said_and_ends_with_one_line(ray, capsys):
    """Tasks that cannot start (here: they ask for more CPUs than the cluster has, as when
    another job holds them): 'waiting for Ray' lines on stderr, then one error line."""
    task = ray.remote(num_cpus=64)(_sleep)
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        distributed.ray_wait(ray, [task.remote(0), task.remote(0)], what="Ray tasks", items=8,
                             timeout=3)
    assert time.monotonic() - started < 30
    message = str(info.value)
    assert re.match(r"Ray made no progress for 3 s \(0 of 2 Ray tasks done, 0 of 8 images; "
                    r"cluster: (\d+) of \1 CPUs free\); check the cluster", message), message
    assert "GENMETRICS_RAY_TIMEOUT" in message and "\n" not in message
    waits = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("waiting for Ray:")]
    assert waits and "0 of 2 Ray tasks done, 0 of 8 images" in waits[0]


@pytest.mark.slow
def test_a_task_error_ends_the_run_at_once(ray):
    """A task's UserError ends the wait at once; the other tasks are cancelled."""
    slow, fails = ray.remote(_sleep), ray.remote(_refuse)
    started = time.monotonic()
    with pytest.raises(UserError, match="^bad input in shard 1$"):
        distributed.ray_wait(ray, [slow.remote(120), fails.remote("bad input in shard 1")],
                             what="Ray tasks", timeout=200)
    assert time.monotonic() - started < 90


@pytest.mark.slow
def test_strict_with_a_bad_image_is_one_line_not_a_hang(ray, weights, tmp_path):
    from genmetrics import evaluate
    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.registry import BackboneOptions

    folder = tmp_path / "gen"
    write_images(folder, 6, seed=5, size=(40, 56))
    (folder / "img004.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    inception = InceptionBackbone(BackboneOptions(device="cpu"), weights_path=str(weights))
    with pytest.raises(UserError) as info:
        evaluate(folder, metrics="is", ray="local", strict=True, cache=False, device="cpu",
                 batch_size=2, backbones={"inception": inception}, is_splits=2)
    message = str(info.value)
    assert message.startswith("Ray task ") and "img004.png" in message
    assert "--strict" in message and "\n" not in message and info.value.exit_code == 2
