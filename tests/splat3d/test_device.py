"""splat3d.device.resolve_device: a usable torch device or a one-line ValueError."""

from __future__ import annotations

import pytest
import torch

from splat3d.device import resolve_device


def test_cpu_is_always_usable() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_names_the_flag(name: str) -> None:
    with pytest.raises(ValueError, match=rf"--device '{name}': CUDA is not available"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_the_gpus() -> None:
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("name", ["gpu", "", "cuda:-1", "cuda:x", "meta"])
def test_unknown_devices_are_value_errors(name: str) -> None:
    with pytest.raises(ValueError, match="--device") as err:
        resolve_device(name)
    assert "\n" not in str(err.value)
