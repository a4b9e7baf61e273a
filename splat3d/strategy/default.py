"""Adaptive density control of 3D Gaussian Splatting (Kerbl et al., SIGGRAPH 2023, Sec. 5).

Every step the norm of each visible Gaussian's view-space (``means2d``) gradient is
accumulated; every ``refine_every`` steps the Gaussians whose *average* gradient exceeds
``grow_grad2d`` are grown - cloned when small (under-reconstruction), split in two when large
(over-reconstruction) - then nearly transparent and oversized Gaussians are pruned; every
``reset_every`` steps all opacities are lowered so that floaters can fade and be pruned.

Defaults and semantics match gsplat's ``DefaultStrategy`` (``gsplat/strategy/default.py``),
which our trainer treats as the reference; we reimplement it because gsplat is a CUDA package
that is not installable on CPU-only machines.

Example:
    >>> strategy = DefaultStrategy(refine_start_iter=100)
    >>> state = strategy.initialize_state(scene_scale=1.5)
    >>> # each step: render -> strategy.step_pre_backward(...) -> loss.backward()
    >>> #            -> optimizer.step() -> strategy.step_post_backward(...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from splat3d.strategy import ops
from splat3d.strategy.base import Strategy
from splat3d.strategy.ops import Optimizers, Params


@dataclass
class DefaultStrategy(Strategy):
    """Clone / split / prune / opacity-reset schedule of the original 3DGS."""

    prune_opa: float = 0.005
    """Prune Gaussians whose opacity falls below this."""
    grow_grad2d: float = 0.0002
    """Grow Gaussians whose average view-space gradient norm (in NDC units) exceeds this."""
    grow_scale3d: float = 0.01
    """Largest scale, relative to the scene scale, up to which a Gaussian is cloned (above it
    is split)."""
    grow_scale2d: float = 0.05
    """Split Gaussians whose screen radius (fraction of the image size) exceeds this, while
    ``step < refine_scale2d_stop_iter``."""
    prune_scale3d: float = 0.1
    """After the first opacity reset, prune Gaussians larger than this times the scene scale."""
    prune_scale2d: float = 0.15
    """Prune Gaussians whose screen radius (fraction of the image size) exceeds this, while
    ``step < refine_scale2d_stop_iter``."""
    refine_scale2d_stop_iter: int = 0
    """Use screen-size rules before this step; 0 disables them (as the original code
    effectively does)."""
    refine_start_iter: int = 500
    """First step after which Gaussians are grown and pruned."""
    refine_stop_iter: int = 15_000
    """No densification (nor statistics, nor opacity resets) from this step on."""
    reset_every: int = 3000
    """Lower every opacity to ``2 * prune_opa`` every this many steps."""
    refine_every: int = 100
    """Grow and prune every this many steps."""
    pause_refine_after_reset: int = 0
    """Skip refinement for this many steps after an opacity reset."""

    def initialize_state(self, scene_scale: float = 1.0) -> dict[str, Any]:
        """``grad2d`` and ``count`` (per Gaussian; allocated at the first step), ``radii`` (only
        when the screen-size rules are on) and the ``scene_scale`` the 3D thresholds use."""
        state: dict[str, Any] = {"grad2d": None, "count": None, "scene_scale": float(scene_scale)}
        if self.refine_scale2d_stop_iter > 0:
            state["radii"] = None
        return state

    def step_pre_backward(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
                          step: int, info: dict[str, Any]) -> None:
        """Ask autograd to keep the ``means2d`` gradient."""
        if "means2d" not in info:
            raise KeyError("DefaultStrategy: info has no 'means2d'; pass RenderOutput.info")
        info["means2d"].retain_grad()

    def step_post_backward(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
                           step: int, info: dict[str, Any]) -> dict[str, int]:
        """Accumulate gradient statistics; grow, prune and reset opacities on schedule."""
        if step >= self.refine_stop_iter:
            return {}
        self._accumulate(params, state, info)
        report: dict[str, int] = {}
        if (step > self.refine_start_iter and step % self.refine_every == 0
                and step % self.reset_every >= self.pause_refine_after_reset):
            report["duplicated"], report["split"] = self._grow(params, optimizers, state, step)
            report["pruned"] = self._prune(params, optimizers, state, step)
            for key in ("grad2d", "count", "radii"):
                if state.get(key) is not None:
                    state[key].zero_()
        if step % self.reset_every == 0 and step > 0:
            ops.reset_opacity(params, optimizers, value=2.0 * self.prune_opa)
            report["reset"] = 1
        return report

    @torch.no_grad()
    def _accumulate(self, params: Params, state: dict[str, Any], info: dict[str, Any]) -> None:
        means2d = info["means2d"]
        if means2d.grad is None:
            raise RuntimeError("DefaultStrategy: means2d has no gradient; call "
                               "step_pre_backward before loss.backward()")
        n = params["means"].shape[0]
        # Pixel gradients -> NDC units, undoing the 1/C of a loss averaged over C cameras.
        scale = means2d.new_tensor([info["width"] / 2.0, info["height"] / 2.0]) * info["n_cameras"]
        grads = means2d.grad * scale  # [C, N, 2]
        visible = (info["radii"] > 0).all(-1)  # [C, N]
        ids = torch.where(visible)[1]
        for key in ("grad2d", "count"):
            if state[key] is None or state[key].shape[0] != n:
                state[key] = torch.zeros(n, device=grads.device)
        state["grad2d"].index_add_(0, ids, grads[visible].norm(dim=-1))
        state["count"].index_add_(0, ids, torch.ones_like(ids, dtype=torch.float32))
        if self.refine_scale2d_stop_iter > 0:
            if state["radii"] is None or state["radii"].shape[0] != n:
                state["radii"] = torch.zeros(n, device=grads.device)
            r = info["radii"][visible].amax(-1).float() / max(info["width"], info["height"])
            state["radii"][ids] = torch.maximum(state["radii"][ids], r)

    @torch.no_grad()
    def _grow(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
              step: int) -> tuple[int, int]:
        avg_grad = state["grad2d"] / state["count"].clamp_min(1)
        high = avg_grad > self.grow_grad2d
        small = self._max_scale(params) <= self.grow_scale3d * state["scene_scale"]
        is_dup = high & small
        is_split = high & ~small
        if step < self.refine_scale2d_stop_iter:
            is_split |= state["radii"] > self.grow_scale2d
        n_dup, n_split = int(is_dup.sum()), int(is_split.sum())
        if n_dup:
            ops.duplicate(params, optimizers, state, is_dup)
        if n_split:
            # clones were appended at the end; they are never split in the same round
            is_split = torch.cat([is_split, is_split.new_zeros(n_dup)])
            ops.split(params, optimizers, state, is_split)
        return n_dup, n_split

    @torch.no_grad()
    def _prune(self, params: Params, optimizers: Optimizers, state: dict[str, Any],
               step: int) -> int:
        is_prune = torch.sigmoid(params["opacity_logits"]) < self.prune_opa
        if step > self.reset_every:
            is_prune |= self._max_scale(params) > self.prune_scale3d * state["scene_scale"]
            if step < self.refine_scale2d_stop_iter:
                is_prune |= state["radii"] > self.prune_scale2d
        n_prune = int(is_prune.sum())
        if n_prune:
            ops.remove(params, optimizers, state, is_prune)
        return n_prune

    @staticmethod
    def _max_scale(params: Params) -> Tensor:
        return torch.exp(params["log_scales"]).amax(-1)
