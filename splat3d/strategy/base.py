"""The densification-policy interface: a small dataclass with explicit state and two hooks.

A strategy never owns the parameters or the optimisers; the trainer passes them in, and the
strategy edits them through :mod:`splat3d.strategy.ops`. Its running statistics live in a
plain ``state`` dict that the trainer stores in checkpoints. The hook layout mirrors gsplat's
``Strategy`` so either can drive our trainer; we do not import gsplat because on CPU-only
machines it is absent and installing it pulls CUDA builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splat3d.strategy.ops import Optimizers, Params, optimizer_list

REQUIRED_PARAMS = ("means", "quats", "log_scales", "opacity_logits")
"""Parameter names every strategy reads."""


@dataclass
class Strategy:
    """Base class: hooks that do nothing, plus the checks every strategy shares."""

    def initialize_state(self, scene_scale: float = 1.0) -> dict[str, Any]:
        """The running state to pass to the hooks (and to save in checkpoints)."""
        return {"scene_scale": float(scene_scale)}

    def check_sanity(self, params: Params, optimizers: Optimizers) -> None:
        """Raise ``ValueError`` unless ``params`` has the required per-Gaussian tensors (same
        row count) and every trainable one is held by exactly one of ``optimizers``."""
        missing = [k for k in REQUIRED_PARAMS if k not in params]
        if missing:
            raise ValueError(f"{type(self).__name__}: parameters {missing} are missing; "
                             f"got {sorted(params.keys())}")
        rows = {k: p.shape[0] for k, p in params.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(f"{type(self).__name__}: parameters disagree on the number of "
                             f"Gaussians: {rows}")
        held = [id(p) for opt in optimizer_list(optimizers) for g in opt.param_groups
                for p in g["params"]]
        for name, p in params.items():
            if p.requires_grad and held.count(id(p)) != 1:
                raise ValueError(f"{type(self).__name__}: parameter {name!r} must be in exactly "
                                 f"one optimiser param group, found {held.count(id(p))}")

    def step_pre_backward(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
                          step: int, info: dict[str, Any]) -> None:
        """Called after rendering, before ``loss.backward()``."""

    def step_post_backward(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
                           step: int, info: dict[str, Any]) -> dict[str, int]:
        """Called after the optimiser step; returns counts of what it changed (may be empty)."""
        return {}
