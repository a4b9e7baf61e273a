"""Training checkpoints: everything needed to continue a run bit-for-bit on CPU.

A checkpoint holds the step, the parameters, the optimiser state (Adam moments), the
densification strategy's running state and the global torch RNG state (split sampling).
View order and random backgrounds are derived from ``(seed, step)``, so they need no state.
Files are written atomically; the newest ``KEEP`` are kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from splat3d.fileio import atomic_path
from splat3d.tensorfile import load_tensor_file

KEEP = 2
"""Number of most recent checkpoints kept in a run folder."""
_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, step: int, params: torch.nn.ParameterDict,
                    optimizer: torch.optim.Optimizer, strategy_state: dict[str, Any],
                    log: dict[str, Any] | None = None) -> Path:
    """Write ``checkpoints/step_XXXXXXX.pt`` atomically and drop older ones beyond ``KEEP``;
    ``log`` carries the training curve and evaluations so far."""
    path = checkpoint_dir(run_dir) / f"step_{step:07d}.pt"
    payload = {
        "step": step,
        "params": {k: v.detach().cpu() for k, v in params.items()},
        "optimizer": optimizer.state_dict(),
        "strategy_state": strategy_state,
        "torch_rng": torch.get_rng_state(),
        "log": log or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    for old in list_checkpoints(run_dir)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest checkpoint of ``run_dir``.

    Raises:
        FileNotFoundError: if the run has none.
    """
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"no checkpoint in {checkpoint_dir(run_dir)} (expected "
                                f"step_*.pt); nothing to resume or evaluate")
    return found[-1]


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    payload = load_tensor_file(path, "checkpoint", device)
    missing = {"step", "params", "optimizer", "strategy_state", "torch_rng"} - set(payload)
    if missing:
        raise ValueError(f"{path}: not a splat3d checkpoint (missing {sorted(missing)})")
    return payload
