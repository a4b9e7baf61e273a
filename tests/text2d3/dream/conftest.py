import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def single_thread():
    # Small renders and tiny networks: thread start-up dominates and two shared cores thrash.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
