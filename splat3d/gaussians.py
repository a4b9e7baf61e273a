"""The Gaussian scene representation: raw (optimisable) parameters and their activations."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.sh import num_sh_bases, rgb_to_sh_dc, sh_degree_from_bases


def quat_to_rotmat(quats: Float[Tensor, "*B 4"]) -> Float[Tensor, "*B 3 3"]:
    """Rotation matrices from (w, x, y, z) quaternions; they are normalised first."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*quats.shape[:-1], 3, 3)


@dataclass
class Gaussians:
    """``N`` 3D Gaussians in raw parameter space (what an optimiser updates).

    Activations: ``scales = exp(log_scales)``, ``opacities = sigmoid(opacity_logits)``,
    rotations from normalised ``quats``; colour is ``max(0, 0.5 + SH(dir))``.

    Example:
        >>> g = Gaussians.random_box(1000, extent=1.0, seed=0)
        >>> len(g), g.sh_degree
        (1000, 3)
    """

    means: Float[Tensor, "N 3"]
    """Centres in world coordinates."""
    quats: Float[Tensor, "N 4"]
    """Rotations as (w, x, y, z) quaternions; need not be normalised."""
    log_scales: Float[Tensor, "N 3"]
    """Natural log of the standard deviations along the three local axes."""
    opacity_logits: Float[Tensor, " N"]
    """Opacity before the sigmoid."""
    sh: Float[Tensor, "N K 3"]
    """Spherical-harmonics colour coefficients, ``K = (degree+1)^2``, DC first."""

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {"means": (n, 3), "quats": (n, 4), "log_scales": (n, 3), "opacity_logits": (n,)}
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {got}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"Gaussians.sh must be [N,K,3] with N={n}, got {tuple(self.sh.shape)}")
        sh_degree_from_bases(self.sh.shape[1])

    # ------------------------------------------------------------------ activated views
    @property
    def sh_degree(self) -> int:
        return sh_degree_from_bases(self.sh.shape[1])

    @property
    def scales(self) -> Float[Tensor, "N 3"]:
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> Float[Tensor, " N"]:
        return torch.sigmoid(self.opacity_logits)

    @property
    def rotations(self) -> Float[Tensor, "N 3 3"]:
        return quat_to_rotmat(self.quats)

    @property
    def covariances(self) -> Float[Tensor, "N 3 3"]:
        """World-space covariances ``R diag(s^2) R^T``."""
        m = self.rotations * self.scales.unsqueeze(-2)
        return m @ m.transpose(-1, -2)

    @property
    def device(self) -> torch.device:
        return self.means.device

    def __len__(self) -> int:
        return self.means.shape[0]

    def tensors(self) -> dict[str, Tensor]:
        """The raw parameters by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, index: Tensor | slice | int) -> Gaussians:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Gaussians(**{k: v[index] for k, v in self.tensors().items()})

    @staticmethod
    def cat(parts: list[Gaussians]) -> Gaussians:
        degrees = {p.sh_degree for p in parts}
        if len(degrees) != 1:
            raise ValueError(f"Gaussians.cat: all parts need one SH degree, got {sorted(degrees)}")
        names = parts[0].tensors()
        return Gaussians(**{k: torch.cat([p.tensors()[k] for p in parts]) for k in names})

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Gaussians:
        return Gaussians(**{k: v.to(device=device, dtype=dtype) for k, v in self.tensors().items()})

    def detach(self) -> Gaussians:
        return Gaussians(**{k: v.detach() for k, v in self.tensors().items()})

    def requires_grad_(self, flag: bool = True) -> Gaussians:
        for v in self.tensors().values():
            v.requires_grad_(flag)
        return self

    def with_sh_degree(self, degree: int) -> Gaussians:
        """A copy with SH truncated or zero-padded to ``degree``."""
        k = num_sh_bases(degree)
        sh = self.sh[:, :k]
        if sh.shape[1] < k:
            sh = torch.cat([sh, sh.new_zeros(len(self), k - sh.shape[1], 3)], dim=1)
        return Gaussians(self.means, self.quats, self.log_scales, self.opacity_logits, sh)

    # ------------------------------------------------------------------ initialisation
    @classmethod
    def from_points(
        cls, points: Float[Tensor, "N 3"], colors: Float[Tensor, "N 3"] | None = None,
        sh_degree: int = 3, opacity: float = 0.1, scale_factor: float = 1.0,
    ) -> Gaussians:
        """Isotropic Gaussians on ``points`` (e.g. SfM points), as in 3DGS.

        Each scale is the mean distance to the 3 nearest neighbours (scipy ``cKDTree``),
        times ``scale_factor``; colours (in [0,1], default grey) go into the DC term.
        """
        from scipy.spatial import cKDTree

        points = torch.as_tensor(points, dtype=torch.float32)
        n = points.shape[0]
        if n == 0:
            return cls.empty(sh_degree)
        pts = points.detach().cpu().double().numpy()
        k = min(4, n)
        dist, _ = cKDTree(pts).query(pts, k=k)
        dist = np.asarray(dist).reshape(n, k)[:, 1:]
        mean_dist = dist.mean(axis=1) if k > 1 else np.ones(n)
        mean_dist = np.maximum(mean_dist, 1e-7) * scale_factor
        log_scales = torch.from_numpy(np.log(mean_dist)).float()[:, None].repeat(1, 3)
        rgb = torch.full((n, 3), 0.5) if colors is None else torch.as_tensor(colors).float()
        sh = torch.zeros(n, num_sh_bases(sh_degree), 3)
        sh[:, 0] = rgb_to_sh_dc(rgb)
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        logit = math.log(opacity / (1.0 - opacity))
        return cls(points.clone(), quats, log_scales.to(points.device),
                   torch.full((n,), logit), sh).to(points.device)

    @classmethod
    def random_box(
        cls, n: int, extent: float = 1.0, sh_degree: int = 3, opacity: float = 0.1,
        seed: int = 0, center: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> Gaussians:
        """``n`` Gaussians uniform in the cube ``center ± extent`` with random colours."""
        g = torch.Generator().manual_seed(seed)
        pts = (torch.rand(n, 3, generator=g) * 2 - 1) * extent + torch.tensor(center)
        return cls.from_points(pts, torch.rand(n, 3, generator=g), sh_degree, opacity)

    @classmethod
    def random_sphere(
        cls, n: int, radius: float = 1.0, sh_degree: int = 3, opacity: float = 0.1,
        seed: int = 0, center: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> Gaussians:
        """``n`` Gaussians uniform inside the ball of ``radius`` with random colours."""
        g = torch.Generator().manual_seed(seed)
        d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
        r = radius * torch.rand(n, 1, generator=g) ** (1.0 / 3.0)
        return cls.from_points(d * r + torch.tensor(center), torch.rand(n, 3, generator=g),
                               sh_degree, opacity)

    @classmethod
    def surface_discs(
        cls, points: Float[Tensor, "N 3"], normals: Float[Tensor, "N 3"],
        rgb: Float[Tensor, "N 3"], radius: float, thickness: float = 0.1,
        opacity_logit: float = 3.0,
    ) -> Gaussians:
        """Flat, SH degree 0 Gaussians lying on a surface: scale ``radius`` along two tangent
        axes and ``thickness * radius`` along the unit ``normals`` (the Gaussian's local +z is
        turned onto the normal by the shortest rotation)."""
        z = torch.tensor([0.0, 0.0, 1.0]).expand_as(normals)
        axis = torch.linalg.cross(z, normals, dim=-1)
        sin = axis.norm(dim=-1, keepdim=True)
        cos = (z * normals).sum(-1, keepdim=True)
        half = torch.atan2(sin, cos) / 2
        # anti-parallel normals (sin = 0, cos = -1) turn about x; parallel ones do not turn
        safe = torch.where(sin > 1e-8, axis / sin.clamp_min(1e-8), torch.tensor([1.0, 0.0, 0.0]))
        quats = torch.cat([torch.cos(half), torch.sin(half) * safe], -1)
        n = points.shape[0]
        log_scales = torch.log(torch.tensor([radius, radius, radius * thickness]))
        return cls(points, quats, log_scales.expand(n, 3).clone(),
                   torch.full((n,), float(opacity_logit)), rgb_to_sh_dc(rgb)[:, None, :])

    @classmethod
    def empty(cls, sh_degree: int = 3) -> Gaussians:
        return cls(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0),
                   torch.zeros(0, num_sh_bases(sh_degree), 3))
