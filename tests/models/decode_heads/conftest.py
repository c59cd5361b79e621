"""One CPU thread for these small-model tests (faster on a shared CPU)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def single_cpu_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
