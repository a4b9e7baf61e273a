"""Training checkpoints: everything needed to continue a run bit-for-bit on CPU.

A checkpoint holds the step, the parameters, the optimiser state (Adam moments), the
densification strategy's running state and the global torch RNG state (split sampling).
View order and random backgrounds are derived from ``(seed, step)``, so they need no state.
Files are written atomically; the newest ``KEEP`` are kept.

Run folders are shared between people, so a checkpoint is untrusted input: it holds tensors
and plain data only (dicts, lists, tuples, str, int, float, bool, None) and is read by
:func:`splat3d.tensorfile.load_tensor_file` (PyTorch's weights-only unpickler), which refuses
anything else without running it.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from splat3d.fileio import atomic_path
from splat3d.tensorfile import load_tensor_file

KEEP = 2
"""Number of most recent checkpoints kept in a run folder."""
_NAME = re.compile(r"^step_(\d+)\.pt$")
_REQUIRED = ("step", "params", "optimizer", "strategy_state", "torch_rng")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupt, truncated, not a splat3d checkpoint,
    or holding objects other than tensors and plain data (refused unexecuted)."""


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, step: int, params: torch.nn.ParameterDict,
                    optimizer: torch.optim.Optimizer, strategy_state: dict[str, Any],
                    log: dict[str, Any] | None = None) -> Path:
    """Write ``checkpoints/step_XXXXXXX.pt`` atomically and drop older ones beyond ``KEEP``;
    ``log`` carries the training curve and evaluations so far.

    Raises:
        TypeError: if some field is not tensors and plain data (it could not be read back).
    """
    path = checkpoint_dir(run_dir) / f"step_{step:07d}.pt"
    payload = plain_data({
        "step": step,
        "params": {k: v.detach().cpu() for k, v in params.items()},
        "optimizer": optimizer.state_dict(),
        "strategy_state": strategy_state,
        "torch_rng": torch.get_rng_state(),
        "log": log or {},
    })
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    for old in list_checkpoints(run_dir)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def plain_data(value: Any, where: str = "checkpoint") -> Any:
    """``value`` as what the weights-only unpickler reads back: tensors, dicts, lists,
    tuples, str, int, float, bool and None. Dataclasses become dicts, paths strings and numpy
    or 0-d scalars Python numbers.

    Raises:
        TypeError: naming the field (``where``) of any other object.
    """
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, dict):
        return {k: plain_data(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [plain_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_data(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalar
        return value.item()
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in a checkpoint "
                    f"(tensors and plain data only)")


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest checkpoint file of ``run_dir`` (not opened; see :func:`load_latest`).

    Raises:
        FileNotFoundError: if the run has none.
    """
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"no checkpoint in {checkpoint_dir(run_dir)} (expected "
                                f"step_*.pt); nothing to resume or evaluate")
    return found[-1]


def load_latest(run_dir: Path, device: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]]:
    """The newest *readable* checkpoint of ``run_dir`` and its payload.

    A newest file that is corrupt (say, damaged by a disk error or a copy cut short) is
    skipped for the previous one with a one-line warning (``splat3d``'s ``main()`` prints
    warnings without their source line).

    Raises:
        FileNotFoundError: if the run has no checkpoint.
        CheckpointError: if none of its checkpoints is readable.
    """
    found = list_checkpoints(run_dir)
    if not found:
        latest_checkpoint(run_dir)  # raises the "no checkpoint" error
    errors: list[str] = []
    for path in reversed(found):
        try:
            payload = load_checkpoint(path, device)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        for skipped in errors:
            warnings.warn(f"skipping an unusable checkpoint: {skipped}; using {path.name}",
                          stacklevel=2)
        return path, payload
    raise CheckpointError(f"no usable checkpoint in {checkpoint_dir(run_dir)}: "
                          + "; ".join(errors))


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, executing nothing from it
    (through :func:`splat3d.tensorfile.load_tensor_file`).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CheckpointError: (one line, naming ``path``) if it is truncated, corrupt, not a
            splat3d checkpoint, or holds anything but tensors and plain data.
    """
    try:
        payload = load_tensor_file(path, "checkpoint", device)
    except ValueError as err:  # a CheckpointError, so load_latest can skip the file
        raise CheckpointError(str(err)) from None
    _check_payload(Path(path), payload)
    return payload


def _check_payload(path: Path, payload: Any) -> None:
    """The fields the trainer relies on, with the right types."""
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a splat3d checkpoint (a {type(payload).__name__}, "
                              f"expected a dict)")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: not a splat3d checkpoint (missing {missing})")
    step, params = payload["step"], payload["params"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{path}: field 'step' is {step!r}; expected an integer >= 0")
    if not isinstance(params, dict) or not params \
            or not all(isinstance(v, torch.Tensor) and v.ndim >= 1 for v in params.values()):
        raise CheckpointError(f"{path}: field 'params' must map names to tensors of shape "
                              f"[N, ...]")
    rows = {k: v.shape[0] for k, v in params.items()}
    if len(set(rows.values())) != 1:
        raise CheckpointError(f"{path}: field 'params' disagrees on the number of Gaussians: "
                              f"{rows}")
    rng = payload["torch_rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 \
            or rng.shape != torch.get_rng_state().shape:
        raise CheckpointError(f"{path}: field 'torch_rng' must be a uint8 tensor of shape "
                              f"{list(torch.get_rng_state().shape)}")
    for name in ("optimizer", "strategy_state", "log"):
        if not isinstance(payload.get(name, {}), dict):
            raise CheckpointError(f"{path}: field {name!r} must be a dict")
    optimizer = payload["optimizer"]
    if not isinstance(optimizer.get("state"), dict) \
            or not isinstance(optimizer.get("param_groups"), list):
        raise CheckpointError(f"{path}: field 'optimizer' must hold 'state' (a dict) and "
                              f"'param_groups' (a list)")

