"""Parameter surgery for densification: grow, split, remove and reset Gaussians in place.

Each op replaces the affected tensors of a parameter dictionary (``means``, ``quats``,
``log_scales``, ``opacity_logits``, ``sh0``, ``shN``: the trainer's layout, see
:mod:`splat3d.train.params`) with new ``nn.Parameter`` objects and carries every optimiser's
per-parameter state along: rows that survive keep their state, new rows start at zero.
This works for any ``torch.optim.Optimizer`` (Adam's ``exp_avg``/``exp_avg_sq``, SGD's
``momentum_buffer``, ...) because any state tensor shaped like its parameter is edited row by
row and everything else (Adam's ``step``) is kept.

The operations follow Kerbl et al., "3D Gaussian Splatting for Real-Time Radiance Field
Rendering", SIGGRAPH 2023, Sec. 5, with gsplat's conventions for what happens to the
optimiser state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from splat3d.gaussians import quat_to_rotmat

Params = MutableMapping[str, torch.nn.Parameter]
"""``nn.ParameterDict`` or a plain dict of per-Gaussian parameters, all with N rows."""
Optimizers = torch.optim.Optimizer | Iterable[torch.optim.Optimizer] | Mapping[str, Any]
"""One optimiser, several, or a name -> optimiser mapping (gsplat's layout)."""

SPLIT_SCALE_DIVISOR = 1.6
"""Children of a split Gaussian get its scales divided by this (3DGS, Sec. 5.2)."""


def optimizer_list(optimizers: Optimizers) -> list[torch.optim.Optimizer]:
    """Normalise the accepted optimiser containers to a list."""
    if isinstance(optimizers, torch.optim.Optimizer):
        return [optimizers]
    if isinstance(optimizers, Mapping):
        return list(optimizers.values())
    return list(optimizers)


@torch.no_grad()
def replace_parameters(
    params: Params,
    optimizers: Optimizers,
    new_value: Callable[[str, Tensor], Tensor],
    new_state: Callable[[Tensor], Tensor],
    names: Iterable[str] | None = None,
) -> None:
    """Swap ``params[name]`` for ``new_value(name, old)`` and re-key the optimiser state.

    Args:
        params: the parameters; edited in place.
        optimizers: every optimiser that may hold one of them.
        new_value: builds the new tensor from the name and the old (detached) tensor.
        new_state: maps an old per-row state tensor (shaped like the old parameter) to the
            new one; other state entries are kept unchanged.
        names: which parameters to replace (default: all).
    """
    opts = optimizer_list(optimizers)
    for name in list(params.keys()) if names is None else names:
        old = params[name]
        new = torch.nn.Parameter(new_value(name, old.detach()), requires_grad=old.requires_grad)
        params[name] = new
        for opt in opts:
            for group in opt.param_groups:
                for i, p in enumerate(group["params"]):
                    if p is old:
                        group["params"][i] = new
            if old in opt.state:
                old_state = opt.state.pop(old)
                opt.state[new] = {
                    k: new_state(v) if isinstance(v, Tensor) and v.shape == old.shape else v
                    for k, v in old_state.items()
                }


def _edit_running_state(state: MutableMapping[str, Any], n: int,
                        edit: Callable[[Tensor], Tensor]) -> None:
    """Apply ``edit`` to every per-Gaussian tensor (first dimension ``n``) in ``state``."""
    for key, value in state.items():
        if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == n:
            state[key] = edit(value)


def _zeros_rows(v: Tensor, k: int) -> Tensor:
    return v.new_zeros((k, *v.shape[1:]))


@torch.no_grad()
def duplicate(params: Params, optimizers: Optimizers, state: MutableMapping[str, Any],
              mask: Bool[Tensor, " N"]) -> None:
    """Clone the masked Gaussians (appended at the end, identical parameters).

    The copies start with zero optimiser state; running statistics are copied.
    """
    sel = torch.where(mask)[0]
    n = mask.shape[0]
    replace_parameters(params, optimizers, lambda _, p: torch.cat([p, p[sel]]),
                       lambda v: torch.cat([v, _zeros_rows(v, len(sel))]))
    _edit_running_state(state, n, lambda v: torch.cat([v, v[sel]]))


@torch.no_grad()
def split(params: Params, optimizers: Optimizers, state: MutableMapping[str, Any],
          mask: Bool[Tensor, " N"], generator: torch.Generator | None = None) -> None:
    """Replace each masked Gaussian by two children sampled from it.

    Children's means are drawn from the parent's Gaussian ``N(mu, R diag(s)^2 R^T)``, their
    scales are ``s / 1.6``; every other parameter is copied. The parents are removed, the
    survivors keep their order and the ``2k`` children are appended; the children's optimiser
    state is zero.
    """
    sel = torch.where(mask)[0]
    rest = torch.where(~mask)[0]
    n, k = mask.shape[0], len(sel)
    scales = torch.exp(params["log_scales"][sel])  # [k, 3]
    rot = quat_to_rotmat(params["quats"][sel])  # [k, 3, 3]
    noise = torch.randn((2, k, 3), generator=generator, device=mask.device,
                        dtype=scales.dtype)
    offsets = torch.einsum("kij,kj,bkj->bki", rot, scales, noise)  # [2, k, 3]

    def children(name: str, p: Tensor) -> Tensor:
        if name == "means":
            new = (p[sel] + offsets).reshape(2 * k, 3)
        elif name == "log_scales":
            new = torch.log(scales / SPLIT_SCALE_DIVISOR).repeat(2, 1)
        else:
            new = p[sel].repeat(2, *([1] * (p.ndim - 1)))
        return torch.cat([p[rest], new])

    replace_parameters(params, optimizers, children,
                       lambda v: torch.cat([v[rest], _zeros_rows(v, 2 * k)]))
    _edit_running_state(state, n, lambda v: torch.cat(
        [v[rest], v[sel].repeat(2, *([1] * (v.ndim - 1)))]))


@torch.no_grad()
def remove(params: Params, optimizers: Optimizers, state: MutableMapping[str, Any],
           mask: Bool[Tensor, " N"]) -> None:
    """Delete the masked Gaussians (and their optimiser and running state)."""
    keep = torch.where(~mask)[0]
    n = mask.shape[0]
    replace_parameters(params, optimizers, lambda _, p: p[keep], lambda v: v[keep])
    _edit_running_state(state, n, lambda v: v[keep])


@torch.no_grad()
def reset_opacity(params: Params, optimizers: Optimizers, value: float) -> None:
    """Clamp every opacity to at most ``value`` (after the sigmoid) and zero its optimiser
    state (3DGS, Sec. 5.2: lets floaters near the cameras fade and be pruned)."""
    ceiling = torch.logit(torch.tensor(value, dtype=torch.float64)).item()
    replace_parameters(params, optimizers, lambda _, p: p.clamp(max=ceiling), torch.zeros_like,
                       names=["opacity_logits"])
