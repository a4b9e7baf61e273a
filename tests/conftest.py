"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


class _RunsCode:
    """Unpickling this object runs a shell command (what a hostile ``.pt`` file does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture
def malicious_torch_file(tmp_path: Path) -> Callable[[Path, dict], Path]:
    """``make(path, payload)`` writes ``payload`` plus an object whose unpickling would create
    the file ``tmp_path / "pwned"``; returns that marker path, which must never exist."""
    marker = tmp_path / "pwned"

    def make(path: Path, payload: dict | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({**(payload or {}), "hook": _RunsCode(f"touch {marker}")}, path)
        return marker

    return make
