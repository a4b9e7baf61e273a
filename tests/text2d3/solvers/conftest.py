import pytest
import torch

from text2d3.solvers.schedules import VPLinear
from text2d3.solvers.testbed import GaussianMixture


@pytest.fixture(autouse=True, scope="package")
def single_thread():
    # Tiny float64 batches: thread start-up dominates and two shared cores thrash.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def mixture() -> GaussianMixture:
    """The smooth 3-D, 3-component mixture used for the convergence-order tests."""
    return GaussianMixture.random(3, 3, seed=0, spread=0.5, scale=1.0)


@pytest.fixture(scope="package")
def vp() -> VPLinear:
    return VPLinear()
