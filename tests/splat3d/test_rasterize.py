"""The torch rasterizer against a float64 brute-force renderer written here (every Gaussian
at every pixel, same semantics), plus gradcheck and edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from splat3d import Cameras, Gaussians
from splat3d.rasterize import rasterize
from splat3d.sh import sh_basis

TOL64 = dict(rtol=1e-7, atol=1e-9)  # torch backend run in float64 vs the reference
TOL32 = dict(rtol=2e-3, atol=2e-4)  # torch backend in float32 vs the float64 reference


# ---------------------------------------------------------------------------- reference
def reference_render(g: Gaussians, cams: Cameras, sh_degree: int, background, antialiased: bool,
                     near: float = 0.01, colors=None, offsets2d=None):
    """Naive renderer: per camera, all Gaussians at all pixels, depth-sorted, float64.

    ``offsets2d`` [C,N,2] is added to the projected means (to take gradients w.r.t. them)."""
    means, quats = g.means.double(), g.quats.double()
    scales, opac = g.log_scales.double().exp(), torch.sigmoid(g.opacity_logits.double())
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rot = torch.stack([
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)
    cov3 = rot @ torch.diag_embed(scales**2) @ rot.transpose(-1, -2)
    rgbs, alphas, depths = [], [], []
    W, H = cams.width, cams.height
    py, px = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                            torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    pix = torch.stack([px.reshape(-1), py.reshape(-1)], -1)  # [HW,2]
    for ci in range(len(cams)):
        Rw = cams.world_to_cam[ci, :3, :3].double()
        tw = cams.world_to_cam[ci, :3, 3].double()
        fx, fy = cams.K[ci, 0, 0].double(), cams.K[ci, 1, 1].double()
        cx, cy = cams.K[ci, 0, 2].double(), cams.K[ci, 1, 2].double()
        pc = means @ Rw.T + tw
        keep = pc[:, 2] > near
        pc, cov = pc[keep], Rw @ cov3[keep] @ Rw.T
        zc = pc[:, 2]
        u = fx * pc[:, 0] / zc + cx
        v = fy * pc[:, 1] / zc + cy
        if offsets2d is not None:
            u, v = u + offsets2d[ci, keep, 0], v + offsets2d[ci, keep, 1]
        limx = 1.3 * 0.5 * W / fx
        limx_lo, limx_hi = -(cx / fx + 0.3 * 0.5 * W / fx), (W - cx) / fx + 0.3 * 0.5 * W / fx
        limy_lo, limy_hi = -(cy / fy + 0.3 * 0.5 * H / fy), (H - cy) / fy + 0.3 * 0.5 * H / fy
        del limx
        txz = torch.clamp(pc[:, 0] / zc, limx_lo.item(), limx_hi.item())
        tyz = torch.clamp(pc[:, 1] / zc, limy_lo.item(), limy_hi.item())
        J = torch.zeros(len(zc), 2, 3, dtype=torch.float64)
        J[:, 0, 0] = fx / zc
        J[:, 0, 2] = -fx * txz / zc
        J[:, 1, 1] = fy / zc
        J[:, 1, 2] = -fy * tyz / zc
        cov2 = J @ cov @ J.transpose(-1, -2)
        det0 = torch.linalg.det(cov2)
        cov2 = cov2 + 0.3 * torch.eye(2, dtype=torch.float64)
        o = opac[keep]
        if antialiased:
            o = o * torch.sqrt(torch.clamp(det0 / torch.linalg.det(cov2), min=0))
        inv = torch.linalg.inv(cov2)
        if colors is None:
            dirs = means[keep] - cams.cam_to_world[ci, :3, 3].double()
            dirs = dirs / dirs.norm(dim=-1, keepdim=True)
            k = (sh_degree + 1) ** 2
            col = (sh_basis(sh_degree, dirs)[..., None] * g.sh.double()[keep, :k]).sum(1)
            col = torch.clamp(col + 0.5, min=0)
        else:
            col = colors.double()[keep]
        order = torch.argsort(zc)
        d = pix[:, None, :] - torch.stack([u, v], -1)[None, order]  # [HW,M,2]
        m = torch.einsum("pmi,mij,pmj->pm", d, inv[order], d)
        a = torch.clamp(o[order][None] * torch.exp(-0.5 * m), max=0.999)
        a = torch.where(a < 1 / 255, torch.zeros_like(a), a)
        tc = torch.cumprod(1 - a, dim=1)
        incl = (tc > 1e-4).double()  # prefix: T is non-increasing
        a = a * incl
        t_before = torch.cumprod(torch.cat([torch.ones_like(a[:, :1]), 1 - a[:, :-1]], 1), 1)
        wgt = a * t_before
        t_final = torch.prod(1 - a, dim=1)
        bg = torch.as_tensor(background, dtype=torch.float64).reshape(-1)
        rgbs.append((wgt @ col[order] + t_final[:, None] * bg).reshape(H, W, -1))
        alpha = 1 - t_final
        alphas.append(alpha.reshape(H, W, 1))
        depths.append(((wgt @ zc[order]) / torch.clamp(alpha, min=1e-10)).reshape(H, W, 1))
    return torch.stack(rgbs), torch.stack(alphas), torch.stack(depths)


# ---------------------------------------------------------------------------- scenes
def random_scene(n: int, seed: int, sh_degree: int, dtype=torch.float64, anisotropic=True):
    gen = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=gen) * 2 - 1) * 0.8
    quats = torch.randn(n, 4, generator=gen)
    if anisotropic:
        log_scales = torch.log(0.02 + 0.25 * torch.rand(n, 3, generator=gen))
    else:
        log_scales = torch.log(0.05 + 0.1 * torch.rand(n, 1, generator=gen)).repeat(1, 3)
    opacity_logits = torch.randn(n, generator=gen) * 1.5
    sh = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen) * 0.4
    return Gaussians(means, quats, log_scales, opacity_logits, sh).to(dtype=dtype)


def ring_cameras(n: int, width: int, height: int, dtype=torch.float64, radius=3.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ang = torch.rand(n, generator=gen) * 2 * math.pi
    eye = torch.stack([radius * torch.cos(ang), radius * torch.sin(ang),
                       torch.rand(n, generator=gen) - 0.5], -1)
    cams = Cameras.from_look_at(eye, torch.zeros(n, 3) + 0.1 * torch.randn(n, 3, generator=gen),
                                fov_x=0.9, width=width, height=height)
    cams.K[:, 0, 2] += 3.0  # off-centre principal point
    cams.K[:, 1, 1] *= 1.1  # non-square pixels
    return cams.to(dtype=dtype)


def leaves(g: Gaussians):
    return [t.requires_grad_(True) for t in g.tensors().values()]


def render_loss(out, weights):
    w_rgb, w_a, w_d = weights
    return (out[0] * w_rgb).sum() + (out[1] * w_a).sum() + (out[2] * w_d).sum()


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("seed,sh_degree,mode,n_cams,size", [
    (0, 0, "classic", 1, (37, 29)),
    (1, 1, "antialiased", 2, (40, 24)),
    (2, 2, "classic", 3, (33, 47)),
    (3, 3, "antialiased", 2, (50, 36)),
    (4, 3, "classic", 1, (64, 48)),
])
def test_matches_bruteforce_forward_and_gradients(seed, sh_degree, mode, n_cams, size):
    g = random_scene(60, seed, sh_degree)
    cams = ring_cameras(n_cams, *size, seed=seed)
    bg = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    gen = torch.Generator().manual_seed(100 + seed)
    C, (W, H) = n_cams, size
    weights = (torch.randn(C, H, W, 3, generator=gen, dtype=torch.float64),
               torch.randn(C, H, W, 1, generator=gen, dtype=torch.float64),
               torch.randn(C, H, W, 1, generator=gen, dtype=torch.float64) * 0.1)

    params = leaves(g)
    out = rasterize(g, cams, background=bg, mode=mode, backend="torch")
    render_loss((out.rgb, out.alpha, out.depth), weights).backward()
    ours = [p.grad.clone() for p in params]
    ref_out = reference_render(g, cams, sh_degree, bg, mode == "antialiased")
    for p in params:
        p.grad = None
    render_loss(ref_out, weights).backward()
    ref = [p.grad.clone() for p in params]

    assert out.alpha.max() > 0.5, "scene should cover part of the image"
    torch.testing.assert_close(out.rgb, ref_out[0], **TOL64)
    torch.testing.assert_close(out.alpha, ref_out[1], **TOL64)
    torch.testing.assert_close(out.depth, ref_out[2], **TOL64)
    for name, a, b in zip(g.tensors(), ours, ref, strict=True):
        torch.testing.assert_close(a, b, **TOL64, msg=lambda m, name=name: f"{name}: {m}")


def test_float32_close_to_float64_reference():
    g = random_scene(300, 7, 3)
    cams = ring_cameras(2, 70, 50, seed=7)
    g32, cams32 = g.to(dtype=torch.float32), cams.to(dtype=torch.float32)
    p32 = leaves(g32)
    out = rasterize(g32, cams32, backend="torch")
    out.rgb.sum().backward()
    ref = reference_render(g, cams, 3, torch.zeros(3), False)
    p64 = leaves(g)
    reference_render(g, cams, 3, torch.zeros(3), False)[0].sum().backward()
    torch.testing.assert_close(out.rgb.double(), ref[0], **TOL32)
    torch.testing.assert_close(out.alpha.double(), ref[1], **TOL32)
    for a, b in zip(p32, p64, strict=True):
        scale = b.grad.abs().max().clamp(min=1e-6)
        torch.testing.assert_close(a.grad.double() / scale, b.grad / scale, rtol=0, atol=5e-3)


def test_gradcheck_tiny_scene():
    g = random_scene(6, 11, 1)
    g.opacity_logits.data.clamp_(-1.5, 1.5)
    cams = ring_cameras(1, 9, 7, seed=11, radius=2.0)

    def fn(means, quats, log_scales, opacity_logits, sh):
        out = rasterize(Gaussians(means, quats, log_scales, opacity_logits, sh), cams,
                        mode="antialiased", backend="torch")
        return out.rgb, out.alpha, out.depth

    assert torch.autograd.gradcheck(fn, tuple(leaves(g)), eps=1e-6, atol=1e-5, rtol=1e-4,
                                    fast_mode=True)


def test_colors_features_and_camera_batches_are_independent():
    g = random_scene(80, 5, 0)
    cams = ring_cameras(3, 31, 23, seed=5)
    feats = torch.rand(80, 5, dtype=torch.float64)
    both = rasterize(g, cams, colors=feats, backend="torch")
    assert both.rgb.shape == (3, 23, 31, 5)
    ref = reference_render(g, cams, 0, torch.zeros(5), False, colors=feats)
    torch.testing.assert_close(both.rgb, ref[0], **TOL64)
    single = rasterize(g, cams[1], colors=feats, backend="torch")
    torch.testing.assert_close(single.rgb[0], both.rgb[1], **TOL64)


def test_all_gaussians_in_one_tile_and_long_lists():
    """Hundreds of Gaussians in one 16x16 tile exercise multi-segment compositing."""
    n = 400
    gen = torch.Generator().manual_seed(3)
    means = torch.randn(n, 3, generator=gen) * 0.01
    g = Gaussians(means, torch.randn(n, 4, generator=gen), torch.full((n, 3), -4.5),
                  torch.full((n,), -2.5), torch.rand(n, 1, 3, generator=gen))
    g = g.to(dtype=torch.float64)
    cams = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.0]]), torch.zeros(1, 3), 0.2, 16, 16)
    cams = cams.to(dtype=torch.float64)
    params = leaves(g)
    out = rasterize(g, cams, backend="torch")
    (out.rgb.sum() + out.alpha.sum()).backward()
    ours = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    ref = reference_render(g, cams, 0, torch.zeros(3), False)
    (ref[0].sum() + ref[1].sum()).backward()
    assert (out.radii > 0).all()
    torch.testing.assert_close(out.rgb, ref[0], **TOL64)
    for a, p in zip(ours, params, strict=True):
        torch.testing.assert_close(a, p.grad, **TOL64)


def test_means2d_gradient_is_the_screen_space_gradient():
    g = random_scene(40, 21, 1)
    cams = ring_cameras(2, 30, 26, seed=21)
    g.means.data[0] = cams.centers[0] - 0.5 * cams.cam_to_world[0, :3, 2]  # behind camera 0
    leaves(g)
    out = rasterize(g, cams, backend="torch")
    out.means2d.retain_grad()
    (out.rgb.sum() + out.alpha.sum()).backward()
    offsets = torch.zeros(2, 40, 2, dtype=torch.float64, requires_grad=True)
    ref = reference_render(g, cams, 1, torch.zeros(3), False, offsets2d=offsets)
    (ref[0].sum() + ref[1].sum()).backward()
    torch.testing.assert_close(out.means2d.grad, offsets.grad, **TOL64)
    assert out.radii[0, 0].eq(0).all() and out.means2d.grad[0, 0].eq(0).all()
    assert set(out.info) >= {"means2d", "radii", "width", "height", "n_cameras"}


def _finite_everything(g: Gaussians, cams: Cameras, **kw):
    params = leaves(g)
    out = rasterize(g, cams, backend="torch", **kw)
    for t in (out.rgb, out.alpha, out.depth):
        assert torch.isfinite(t).all()
    (out.rgb.sum() + out.alpha.sum() + out.depth.sum()).backward()
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
    return out


def edge_scene() -> tuple[Gaussians, Cameras]:
    """Gaussians behind the camera, across the near plane, with scales 1e-8 and 1e4 and
    opacities near 0 and 1, in front of one camera."""
    cams = Cameras.from_look_at(torch.tensor([[0.0, -2.0, 0.0]]), torch.zeros(1, 3), 1.0, 24, 20)
    means = torch.tensor([[0.0, -2.5, 0.0],   # behind the camera
                          [0.0, -1.995, 0.0],  # straddling the near plane
                          [0.1, 0.0, 0.0], [0.0, 0.0, 0.1], [-0.2, 0.0, 0.0], [0.0, 0.5, 0.2]])
    log_scales = torch.tensor([[-2.0] * 3, [-1.0] * 3, [math.log(1e-8)] * 3,
                               [math.log(1e4)] * 3, [-2.0] * 3, [-3.0, -1.0, math.log(1e-8)]])
    logits = torch.tensor([0.0, 0.0, 20.0, 0.0, -30.0, 0.0])  # opacity ~1 and ~0
    gen = torch.Generator().manual_seed(0)
    g = Gaussians(means, torch.randn(6, 4, generator=gen), log_scales, logits,
                  torch.rand(6, 4, 3, generator=gen))
    return g, cams


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_edge_cases_are_finite(mode):
    g, cams = edge_scene()
    out = _finite_everything(g, cams, mode=mode)
    assert out.radii[0, 0].eq(0).all(), "Gaussian behind the camera must be culled"
    _finite_everything(Gaussians.empty(1), cams, mode=mode)
    _finite_everything(g, cams.resized(1, 1), mode=mode)


def test_empty_scene_is_background():
    cams = Cameras.from_look_at(torch.tensor([[0.0, -2.0, 0.0]]), torch.zeros(1, 3), 1.0, 8, 5)
    out = rasterize(Gaussians.empty(0), cams, background=torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(out.rgb, torch.tensor([0.1, 0.2, 0.3]).expand(1, 5, 8, 3))
    assert out.alpha.eq(0).all() and out.depth.eq(0).all()


def test_bad_arguments():
    g = Gaussians.random_box(4, sh_degree=1)
    cams = Cameras.from_look_at(torch.tensor([[0.0, -2.0, 0.0]]), torch.zeros(1, 3), 1.0, 8, 8)
    with pytest.raises(ValueError, match="sh_degree"):
        rasterize(g, cams, sh_degree=2)
    with pytest.raises(ValueError, match="backend"):
        rasterize(g, cams, backend="opengl")
    with pytest.raises(ValueError, match="mode"):
        rasterize(g, cams, mode="fancy")
