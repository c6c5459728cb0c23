import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny networks run fastest on one thread, and far faster when the CPUs are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
