"""Where the shared real data lives; tests needing it skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/splat3d/data/conftest.py -> the repository root is parents[3]; shared/ sits beside it.
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lego_dir(shared_data: Path) -> Path:
    path = shared_data / "nerf_synthetic_lego_subset"
    if not (path / "transforms_train_subset.json").is_file():
        pytest.skip(f"NeRF-synthetic lego subset not found at {path}")
    return path
