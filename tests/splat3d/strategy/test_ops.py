"""Parameter surgery keeps parameters, optimiser state and running state consistent."""

from __future__ import annotations

import math

import pytest
import torch

from splat3d.gaussians import quat_to_rotmat
from splat3d.strategy import ops

N = 6


def make_params(n: int = N) -> torch.nn.ParameterDict:
    gen = torch.Generator().manual_seed(0)
    quats = torch.randn(n, 4, generator=gen)
    return torch.nn.ParameterDict({
        "means": torch.randn(n, 3, generator=gen),
        "quats": quats,
        "log_scales": torch.randn(n, 3, generator=gen) - 2,
        "opacity_logits": torch.randn(n, generator=gen),
        "sh0": torch.randn(n, 1, 3, generator=gen),
        "shN": torch.randn(n, 3, 3, generator=gen),
    })


def stepped(params: torch.nn.ParameterDict, kind: str = "adam") -> torch.optim.Optimizer:
    """An optimiser with one param group per tensor and non-zero state after two steps."""
    groups = [{"params": [p], "name": k} for k, p in params.items()]
    opt = (torch.optim.Adam(groups, lr=1e-2) if kind == "adam"
           else torch.optim.SGD(groups, lr=1e-2, momentum=0.9))
    for _ in range(2):
        loss = sum((p * torch.arange(1.0, N + 1).view(-1, *[1] * (p.ndim - 1))).square().sum()
                   for p in params.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return opt


def row_state(opt: torch.optim.Optimizer, p: torch.nn.Parameter) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in opt.state[p].items() if v.shape == p.shape}


def assert_consistent(params: torch.nn.ParameterDict, opt: torch.optim.Optimizer, n: int) -> None:
    held = [p for g in opt.param_groups for p in g["params"]]
    for name, p in params.items():
        assert p.shape[0] == n, name
        assert isinstance(p, torch.nn.Parameter) and p.requires_grad
        assert any(q is p for q in held), f"{name} not in the optimiser"
        for v in row_state(opt, p).values():
            assert v.shape == p.shape
    assert len(opt.state) == len(params)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_duplicate(kind: str) -> None:
    params = make_params()
    opt = stepped(params, kind)
    before = {k: (p.detach().clone(), row_state(opt, p)) for k, p in params.items()}
    state = {"grad2d": torch.arange(float(N)), "scene_scale": 2.0}
    mask = torch.tensor([True, False, False, True, False, False])
    ops.duplicate(params, opt, state, mask)
    assert_consistent(params, opt, N + 2)
    for k, p in params.items():
        old, old_state = before[k]
        torch.testing.assert_close(p[:N].detach(), old)
        torch.testing.assert_close(p[N:].detach(), old[mask])
        for key, v in row_state(opt, p).items():
            torch.testing.assert_close(v[:N], old_state[key])
            assert (v[N:] == 0).all()
    torch.testing.assert_close(state["grad2d"], torch.tensor([0., 1, 2, 3, 4, 5, 0, 3]))
    assert state["scene_scale"] == 2.0
    opt.step()  # the optimiser still works on the new tensors


def test_split_children_and_state() -> None:
    params = make_params()
    opt = stepped(params)
    before = {k: (p.detach().clone(), row_state(opt, p)) for k, p in params.items()}
    mask = torch.tensor([False, True, False, False, True, False])
    state = {"count": torch.arange(float(N))}
    ops.split(params, opt, state, mask, generator=torch.Generator().manual_seed(3))
    assert_consistent(params, opt, N + 2)
    rest = ~mask
    parents = before["means"][0][mask]
    for k, p in params.items():
        old, old_state = before[k]
        torch.testing.assert_close(p[:4].detach(), old[rest])
        for key, v in row_state(opt, p).items():
            torch.testing.assert_close(v[:4], old_state[key][rest])
            assert (v[4:] == 0).all()
    children = params["means"][4:].detach().reshape(2, 2, 3)
    assert not torch.allclose(children[0], children[1])
    # children lie within a few standard deviations of their parent
    sigma = before["log_scales"][0][mask].exp().amax(-1)
    assert ((children - parents).norm(dim=-1) < 6 * sigma).all()
    torch.testing.assert_close(params["log_scales"][4:].detach(),
                               (before["log_scales"][0][mask] - math.log(1.6)).repeat(2, 1))
    torch.testing.assert_close(params["sh0"][4:].detach(), before["sh0"][0][mask].repeat(2, 1, 1))
    torch.testing.assert_close(state["count"], torch.tensor([0., 2, 3, 5, 1, 4, 1, 4]))


def test_split_samples_parent_distribution() -> None:
    """Children means are distributed as N(mu, R S^2 R^T) of the parent."""
    n = 4000
    params = torch.nn.ParameterDict({
        "means": torch.zeros(n, 3),
        "quats": torch.tensor([[0.9239, 0.0, 0.0, 0.3827]]).repeat(n, 1),
        "log_scales": torch.log(torch.tensor([[0.5, 0.1, 0.2]])).repeat(n, 1),
        "opacity_logits": torch.zeros(n),
    })
    opt = torch.optim.Adam(params.values())
    ops.split(params, opt, {}, torch.ones(n, dtype=torch.bool),
              generator=torch.Generator().manual_seed(0))
    x = params["means"].detach().double()
    R = quat_to_rotmat(torch.tensor([0.9239, 0.0, 0.0, 0.3827])).double()
    cov = R @ torch.diag(torch.tensor([0.25, 0.01, 0.04], dtype=torch.float64)) @ R.T
    torch.testing.assert_close(x.T.cov(), cov, atol=0.01, rtol=0.05)


def test_remove_and_reset_opacity() -> None:
    params = make_params()
    opt = stepped(params)
    before = {k: (p.detach().clone(), row_state(opt, p)) for k, p in params.items()}
    mask = torch.tensor([True, False, True, False, False, False])
    state = {"grad2d": torch.arange(float(N)), "count": None}
    ops.remove(params, opt, state, mask)
    assert_consistent(params, opt, N - 2)
    for k, p in params.items():
        torch.testing.assert_close(p.detach(), before[k][0][~mask])
        for key, v in row_state(opt, p).items():
            torch.testing.assert_close(v, before[k][1][key][~mask])
    torch.testing.assert_close(state["grad2d"], torch.tensor([1., 3, 4, 5]))

    ops.reset_opacity(params, opt, value=0.01)
    assert (torch.sigmoid(params["opacity_logits"]) <= 0.01 + 1e-6).all()
    assert all((v == 0).all() for v in row_state(opt, params["opacity_logits"]).values())
    assert opt.state[params["opacity_logits"]]["step"] > 0  # scalar state is kept
    assert_consistent(params, opt, N - 2)
    torch.testing.assert_close(params["means"].detach(), before["means"][0][~mask])


def test_optimizer_containers() -> None:
    params = make_params()
    opts = {k: torch.optim.Adam([p], lr=1e-3) for k, p in params.items()}
    ops.remove(params, opts, {}, torch.tensor([True] + [False] * (N - 1)))
    for k, opt in opts.items():
        assert opt.param_groups[0]["params"][0] is params[k]
