import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every generation test runs torch on one thread (fixture in tests/conftest.py)."""
