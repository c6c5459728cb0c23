import pytest
import torch

from genmetrics.devices import resolve_device
from genmetrics.errors import UserError


def test_auto_and_cpu():
    assert resolve_device(None) == resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", "", "cpu:0:1"])
def test_unknown_names(name):
    with pytest.raises(UserError, match="is not a device name"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_on_a_machine_without_it_names_what_is_there(name):
    with pytest.raises(UserError, match=rf"--device {name}: .*available here: cpu"):
        resolve_device(name)


def test_mps_where_absent():
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(UserError, match="MPS is not available"):
        resolve_device("mps")


def test_host_allocator_tuning_is_glibc_only_and_can_be_turned_off(monkeypatch):
    """The CLI keeps freed activation memory in the heap (glibc ``mallopt``); elsewhere, or
    with ``GENMETRICS_TUNE_MALLOC=0``, it leaves the allocator alone and says so."""
    import platform
    import sys

    from genmetrics.devices import HOST_ALLOCATOR_ENV, tune_host_allocator

    monkeypatch.setenv(HOST_ALLOCATOR_ENV, "0")
    assert tune_host_allocator() is False
    monkeypatch.delenv(HOST_ALLOCATOR_ENV)
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert tune_host_allocator() is glibc
