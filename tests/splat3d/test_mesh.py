import math

import numpy as np
import pytest
import torch

from splat3d.gaussians import Gaussians
from splat3d.mesh import (
    MeshConfig,
    base_colours,
    density_grid,
    export_mesh,
    extract_mesh,
    grid_bounds,
    save_mesh,
)
from splat3d.sh import rgb_to_sh_dc

trimesh = pytest.importorskip("trimesh")
pytest.importorskip("skimage")


def _scene(n: int, seed: int) -> Gaussians:
    """Anisotropic, rotated Gaussians with varied opacities and colours."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) * 2 - 1) * 0.6
    quats = torch.randn(n, 4, generator=g)
    log_scales = torch.log(0.05 + 0.2 * torch.rand(n, 3, generator=g))
    logits = torch.randn(n, generator=g)
    sh = torch.zeros(n, 4, 3)
    sh[:, 0] = rgb_to_sh_dc(torch.rand(n, 3, generator=g))
    return Gaussians(means, quats, log_scales, logits, sh)


def _one(mean, scales, opacity: float, rgb, quat=(1.0, 0.0, 0.0, 0.0)) -> Gaussians:
    sh = torch.zeros(1, 1, 3)
    sh[0, 0] = rgb_to_sh_dc(torch.tensor(rgb, dtype=torch.float32))
    return Gaussians(torch.tensor([mean], dtype=torch.float32),
                     torch.tensor([quat], dtype=torch.float32),
                     torch.log(torch.tensor([scales], dtype=torch.float32)),
                     torch.logit(torch.tensor([opacity])), sh)


def _brute_force(g: Gaussians, points: torch.Tensor, cutoff: float):
    """Every Gaussian at every point in float64, from the covariance matrix by linalg.inv."""
    g = g.to(dtype=torch.float64)
    prec = torch.linalg.inv(g.covariances)  # [N, 3, 3]
    d = points.reshape(-1, 1, 3).double() - g.means  # [P, N, 3]
    m2 = torch.einsum("pni,nij,pnj->pn", d, prec, d)
    w = torch.where(m2 <= cutoff**2, g.opacities * torch.exp(-0.5 * m2), 0.0)
    rgb = (0.5 + 0.28209479177387814 * g.sh[:, 0]).clamp(0, 1)
    return w.sum(1), w @ rgb


@pytest.mark.parametrize("chunk_size", [1, 500, 1 << 22])
def test_density_matches_float64_brute_force(chunk_size):
    g = _scene(40, seed=1)
    config = MeshConfig(resolution=20, chunk_size=chunk_size)
    grid = density_grid(g, config)
    den, col = _brute_force(g, grid.points(), config.cutoff_sigma)
    torch.testing.assert_close(grid.density.reshape(-1).double(), den, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grid.weighted_colour.reshape(-1, 3).double(), col,
                               rtol=1e-4, atol=1e-6)
    assert grid.density.max() > 0.5  # the scene is not trivially empty on the grid


def test_truncation_changes_the_density_by_at_most_the_tail():
    # Without a cutoff the brute force is the full mixture; the truncated grid differs from it by
    # at most sum_i o_i exp(-c^2/2) where some Gaussian's tail is dropped.
    g = _scene(30, seed=2)
    grid = density_grid(g, MeshConfig(resolution=16, cutoff_sigma=2.0))
    full, _ = _brute_force(g, grid.points(), cutoff=1e9)
    gap = full - grid.density.reshape(-1).double()
    assert gap.min() > -1e-5
    assert gap.max() <= float(g.opacities.sum()) * math.exp(-2.0) + 1e-5
    assert gap.max() > 1e-3  # the cutoff really did drop something


def test_auto_bounds_hold_the_support_and_explicit_bounds_are_used():
    g = _scene(10, seed=3)
    lo, hi = grid_bounds(g, MeshConfig(padding=0.0))
    ext = 3.0 * torch.diagonal(g.covariances, dim1=-2, dim2=-1).sqrt()
    np.testing.assert_allclose(lo, (g.means - ext).min(0).values.double().numpy(), rtol=1e-6)
    np.testing.assert_allclose(hi, (g.means + ext).max(0).values.double().numpy(), rtol=1e-6)
    box = ((-1.0, -2.0, -0.5), (1.0, 0.0, 0.5))
    grid = density_grid(g, MeshConfig(resolution=21, bounds=box))
    assert grid.voxel_size == pytest.approx(0.1)
    assert tuple(grid.density.shape) == (21, 21, 11)
    torch.testing.assert_close(grid.points()[0, 0, 0], torch.tensor(box[0]))
    torch.testing.assert_close(grid.points()[-1, -1, -1], torch.tensor(box[1]), atol=1e-6,
                               rtol=0)


@pytest.mark.parametrize("quat", [(1.0, 0.0, 0.0, 0.0), (0.8, 0.3, -0.4, 0.33)])
def test_iso_surface_of_one_gaussian_is_its_analytic_ellipsoid(quat):
    # o * exp(-m^2/2) = L  <=>  m = sqrt(2 ln(o/L)): the sphere radius for an isotropic Gaussian,
    # the Mahalanobis radius of every vertex for an anisotropic one.
    opacity, iso = 0.9, 0.3
    scales = (0.2, 0.2, 0.2) if quat[0] == 1.0 else (0.3, 0.15, 0.2)
    g = _one((0.1, -0.2, 0.3), scales, opacity, (0.2, 0.6, 0.9), quat)
    config = MeshConfig(resolution=64, iso_level=iso)
    mesh = extract_mesh(g, config)
    expected = math.sqrt(2 * math.log(opacity / iso))
    d = torch.from_numpy(mesh.vertices) - g.means.double()
    prec = torch.linalg.inv(g.covariances.double())[0]
    radius = torch.einsum("vi,ij,vj->v", d, prec, d).sqrt()
    voxel = density_grid(g, config).voxel_size
    # Linear interpolation along grid edges: error well under a voxel (in Mahalanobis units).
    assert (radius - expected).abs().max() < 0.15 * voxel / min(scales)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # Outward normals: positive volume close to the ellipsoid's (4/3) pi prod(r * s_k).
    analytic = 4.0 / 3.0 * math.pi * math.prod(expected * s for s in scales)
    assert mesh.volume == pytest.approx(analytic, rel=0.02)
    if quat[0] == 1.0:
        r = np.linalg.norm(mesh.vertices - np.array([0.1, -0.2, 0.3]), axis=1)
        assert np.abs(r - 0.2 * expected).max() < 0.15 * voxel


def test_vertex_colours_are_the_density_weighted_base_colours():
    a = _one((-0.6, 0.0, 0.0), (0.15, 0.15, 0.15), 0.95, (1.0, 0.0, 0.0))
    b = _one((0.6, 0.0, 0.0), (0.15, 0.15, 0.15), 0.95, (0.0, 0.0, 1.0))
    mesh = extract_mesh(Gaussians.cat([a, b]), MeshConfig(resolution=60, iso_level=0.4))
    colours = mesh.visual.vertex_colors
    left = mesh.vertices[:, 0] < 0
    assert left.any() and (~left).any()  # two separate blobs
    np.testing.assert_array_equal(colours[left], [[255, 0, 0, 255]] * int(left.sum()))
    np.testing.assert_array_equal(colours[~left], [[0, 0, 255, 255]] * int((~left).sum()))


def test_vertex_colours_of_overlapping_gaussians_blend_by_weight():
    # Two coincident Gaussians: the weights' ratio is the opacities' ratio everywhere.
    a = _one((0.0, 0.0, 0.0), (0.2, 0.2, 0.2), 0.9, (1.0, 0.0, 0.0))
    b = _one((0.0, 0.0, 0.0), (0.2, 0.2, 0.2), 0.3, (0.0, 1.0, 0.0))
    g = Gaussians.cat([a, b])
    mesh = extract_mesh(g, MeshConfig(resolution=32, iso_level=0.5))
    expected = (0.9 * base_colours(a)[0] + 0.3 * base_colours(b)[0]) / 1.2
    got = mesh.visual.vertex_colors[:, :3].astype(np.float64) / 255
    np.testing.assert_allclose(got, np.broadcast_to(expected.numpy(), got.shape), atol=0.6 / 255)


@pytest.mark.parametrize("suffix", [".glb", ".obj", ".ply"])
def test_round_trip_through_trimesh(tmp_path, suffix):
    a = _one((-0.6, 0.0, 0.0), (0.15, 0.15, 0.15), 0.95, (1.0, 0.5, 0.0))
    b = _one((0.6, 0.0, 0.0), (0.15, 0.15, 0.15), 0.95, (0.0, 0.2, 1.0))
    path = tmp_path / f"object{suffix}"
    mesh = export_mesh(Gaussians.cat([a, b]), path, MeshConfig(resolution=40))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.faces) == len(mesh.faces)
    # Formats may reorder or merge vertices: compare as point sets, and colours by blob.
    np.testing.assert_allclose(np.sort(loaded.vertices, axis=0), np.sort(mesh.vertices, axis=0),
                               atol=1e-5)
    assert loaded.volume == pytest.approx(mesh.volume, rel=1e-4)
    colours = np.asarray(loaded.visual.vertex_colors)[:, :3]
    left = loaded.vertices[:, 0] < 0
    assert left.any() and (~left).any()
    np.testing.assert_array_equal(np.unique(colours[left], axis=0), [[255, 128, 0]])
    np.testing.assert_array_equal(np.unique(colours[~left], axis=0), [[0, 51, 255]])


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no Gaussians"):
        extract_mesh(Gaussians.empty(1))
    faint = _one((0.0, 0.0, 0.0), (0.2, 0.2, 0.2), 0.2, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="iso level"):
        extract_mesh(faint, MeshConfig(resolution=16, iso_level=0.5))
    with pytest.raises(ValueError, match=r"\.stl.*\.glb, \.obj, \.ply"):
        export_mesh(faint, tmp_path / "x.stl")
    with pytest.raises(ValueError, match="bounds"):
        MeshConfig(bounds=((0.0, 0.0, 0.0), (1.0, -1.0, 1.0)))
    with pytest.raises(ValueError, match="resolution"):
        MeshConfig(resolution=1)
    with pytest.raises(ValueError, match=r"--mesh-resolution\) must be 2 to 1024 .* 100000"):
        MeshConfig(resolution=100_000)  # a 4 PB grid
    mesh = extract_mesh(_one((0.0, 0.0, 0.0), (0.2, 0.2, 0.2), 0.9, (0.5, 0.5, 0.5)),
                        MeshConfig(resolution=16))
    with pytest.raises(ValueError, match="unknown extension"):
        save_mesh(mesh, tmp_path / "noext")
    assert list(tmp_path.iterdir()) == []


def test_bounds_cutting_the_object_still_give_a_closed_surface():
    g = _one((0.0, 0.0, 0.0), (0.3, 0.3, 0.3), 0.9, (0.5, 0.5, 0.5))
    mesh = extract_mesh(g, MeshConfig(resolution=32, bounds=((-1, -1, 0), (1, 1, 1))))
    assert mesh.is_watertight and mesh.volume > 0
    voxel = 2.0 / 31  # longest side 2 over 32 grid points
    # The cap closes the cut between the last grid layer (z=0) and the zero padding (z=-voxel).
    assert -voxel < mesh.vertices[:, 2].min() < 0
