import math

import pytest
import torch

from splat3d import Gaussians
from splat3d.gaussians import quat_to_rotmat
from splat3d.sh import eval_sh, rgb_to_sh_dc, sh_basis, sh_dc_to_rgb


def test_from_points_scales_are_mean_knn_distance():
    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(200, 3, generator=gen, dtype=torch.float64)
    g = Gaussians.from_points(pts, sh_degree=2)
    d = torch.cdist(pts, pts)
    d.fill_diagonal_(float("inf"))
    expect = d.topk(3, largest=False).values.mean(1)
    torch.testing.assert_close(g.scales[:, 0].double(), expect, rtol=1e-5, atol=1e-7)
    assert g.sh.shape == (200, 9, 3)
    torch.testing.assert_close(g.opacities, torch.full((200,), 0.1))


def test_covariance_is_r_s2_rt_and_rotation_is_orthonormal():
    g = Gaussians.random_box(50, seed=3)
    g.quats = torch.randn(50, 4) * 3
    R = quat_to_rotmat(g.quats)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(50, 3, 3), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(50), atol=1e-5, rtol=0)
    cov = g.covariances
    torch.testing.assert_close(cov, R @ torch.diag_embed(g.scales**2) @ R.transpose(1, 2))


def test_indexing_cat_and_degree_change():
    g = Gaussians.random_sphere(10, sh_degree=1, seed=1)
    part = g[torch.arange(10) < 4]
    assert len(part) == 4 and len(g[3]) == 1
    both = Gaussians.cat([part, g[4:]])
    torch.testing.assert_close(both.means, g.means)
    g3 = g.with_sh_degree(3)
    assert g3.sh_degree == 3 and g3.sh[:, 4:].abs().sum() == 0
    assert g3.with_sh_degree(0).sh.shape == (10, 1, 3)
    with pytest.raises(ValueError, match="degree"):
        Gaussians.cat([g, g3])
    with pytest.raises(ValueError, match="means"):
        Gaussians(torch.zeros(3, 2), g.quats[:3], g.log_scales[:3], g.opacity_logits[:3], g.sh[:3])


def fibonacci_sphere(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5**0.5) * i
    r = torch.sqrt(1 - z * z)
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)


def test_sh_basis_is_orthonormal_on_the_sphere():
    dirs = fibonacci_sphere(200_000)
    Y = sh_basis(3, dirs)  # [n,16]
    gram = Y.T @ Y * (4 * math.pi / len(dirs))
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=2e-4, rtol=0)


def test_sh_dc_and_eval_are_consistent():
    rgb = torch.rand(5, 3)
    torch.testing.assert_close(sh_dc_to_rgb(rgb_to_sh_dc(rgb)), rgb)
    sh = torch.zeros(5, 16, 3)
    sh[:, 0] = rgb_to_sh_dc(rgb)
    torch.testing.assert_close(eval_sh(3, sh, torch.randn(5, 3)) + 0.5, rgb)


def test_surface_discs_are_flat_along_the_normal():
    gen = torch.Generator().manual_seed(0)
    normals = torch.nn.functional.normalize(torch.randn(50, 3, generator=gen), dim=-1)
    normals[0] = torch.tensor([0.0, 0.0, 1.0])  # no rotation
    normals[1] = torch.tensor([0.0, 0.0, -1.0])  # the anti-parallel special case
    rgb = torch.rand(50, 3, generator=gen)
    g = Gaussians.surface_discs(torch.randn(50, 3, generator=gen), normals, rgb, radius=0.2,
                                thickness=0.1, opacity_logit=2.0)
    cov = g.covariances.double()
    n = normals.double()
    # variance along the normal and along any tangent direction, closed form
    torch.testing.assert_close(torch.einsum("ni,nij,nj->n", n, cov, n),
                               torch.full((50,), 0.02**2, dtype=torch.float64))
    tangent = torch.nn.functional.normalize(
        torch.linalg.cross(n, torch.tensor([[0.3, 0.5, 0.8]], dtype=torch.float64).expand(50, 3),
                           dim=-1), dim=-1)
    torch.testing.assert_close(torch.einsum("ni,nij,nj->n", tangent, cov, tangent),
                               torch.full((50,), 0.2**2, dtype=torch.float64))
    assert g.sh_degree == 0
    torch.testing.assert_close(g.opacities, torch.full((50,), torch.sigmoid(torch.tensor(2.0))))
