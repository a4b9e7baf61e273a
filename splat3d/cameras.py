"""Batched pinhole cameras (OpenCV convention, intrinsics in pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d import conventions


@dataclass
class Cameras:
    """A batch of ``C`` pinhole cameras sharing one image size.

    Pixel centres sit at ``(x + 0.5, y + 0.5)``; ``K`` maps camera-space points to those
    continuous pixel coordinates.

    Example:
        >>> cams = Cameras.from_look_at(torch.tensor([[0., -4., 1.]]), torch.zeros(1, 3),
        ...                             fov_x=0.8, width=64, height=48)
        >>> cams.K.shape, cams.world_to_cam.shape
        (torch.Size([1, 3, 3]), torch.Size([1, 4, 4]))
    """

    K: Float[Tensor, "C 3 3"]
    """Intrinsics in pixels: ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``."""
    world_to_cam: Float[Tensor, "C 4 4"]
    """World-to-camera rigid transforms, OpenCV convention (x right, y down, z forward)."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""

    def __post_init__(self) -> None:
        if self.K.ndim != 3 or self.K.shape[-2:] != (3, 3):
            raise ValueError(f"Cameras.K must be [C,3,3], got {tuple(self.K.shape)}")
        if self.world_to_cam.shape != (self.K.shape[0], 4, 4):
            raise ValueError(
                f"Cameras.world_to_cam must be [{self.K.shape[0]},4,4], "
                f"got {tuple(self.world_to_cam.shape)}"
            )
        if self.width < 1 or self.height < 1:
            raise ValueError(
                f"Cameras: image size must be positive, got {self.width}x{self.height}")

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def intrinsics(
        fx: Tensor | float, fy: Tensor | float, cx: Tensor | float, cy: Tensor | float, n: int = 1
    ) -> Float[Tensor, "C 3 3"]:
        """Build ``[C,3,3]`` intrinsics from focal lengths and principal points (scalars or [C])."""
        vals = [torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (fx, fy, cx, cy)]
        c = max(n, *(v.numel() for v in vals))
        fx_, fy_, cx_, cy_ = (v.expand(c) for v in vals)
        K = torch.zeros(c, 3, 3)
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx_, fy_, cx_, cy_, 1.0
        return K

    @classmethod
    def from_opengl_c2w(
        cls, c2w: Float[Tensor, "C 4 4"], K: Float[Tensor, "C 3 3"], width: int, height: int
    ) -> Cameras:
        """From nerfstudio/Blender camera-to-world matrices (OpenGL convention)."""
        c2w = torch.as_tensor(c2w, dtype=torch.float32).reshape(-1, 4, 4)
        w2c = conventions.invert_rigid(conventions.opengl_to_opencv(c2w))
        return cls(K.to(c2w).expand(c2w.shape[0], 3, 3).clone(), w2c, int(width), int(height))

    @classmethod
    def from_opencv_c2w(
        cls, c2w: Float[Tensor, "C 4 4"], K: Float[Tensor, "C 3 3"], width: int, height: int
    ) -> Cameras:
        """From camera-to-world matrices already in the OpenCV convention (COLMAP, ScanNet)."""
        c2w = torch.as_tensor(c2w, dtype=torch.float32).reshape(-1, 4, 4)
        return cls(K.to(c2w).expand(c2w.shape[0], 3, 3).clone(), conventions.invert_rigid(c2w),
                   int(width), int(height))

    @classmethod
    def from_fov(
        cls, c2w: Float[Tensor, "C 4 4"], fov_x: float, width: int, height: int,
        fov_y: float | None = None,
    ) -> Cameras:
        """From OpenCV camera-to-world matrices and a horizontal field of view (radians).

        ``fov_y`` defaults to square pixels; the principal point is the image centre.
        """
        fx = conventions.fov_to_focal(fov_x, width)
        fy = fx if fov_y is None else conventions.fov_to_focal(fov_y, height)
        c2w = torch.as_tensor(c2w, dtype=torch.float32).reshape(-1, 4, 4)
        K = cls.intrinsics(fx, fy, width / 2.0, height / 2.0, n=c2w.shape[0])
        return cls.from_opencv_c2w(c2w, K, width, height)

    @classmethod
    def from_look_at(
        cls, eye: Float[Tensor, "C 3"], target: Float[Tensor, "C 3"], fov_x: float,
        width: int, height: int, up: tuple[float, float, float] = (0.0, 0.0, 1.0),
    ) -> Cameras:
        """Cameras at ``eye`` looking at ``target``; world ``up`` (default +z) points up."""
        eye = torch.as_tensor(eye, dtype=torch.float32).reshape(-1, 3)
        target = torch.as_tensor(target, dtype=torch.float32).reshape(-1, 3).expand_as(eye)
        c2w = conventions.look_at(eye, target, torch.tensor(up, dtype=torch.float32))
        return cls.from_fov(c2w, fov_x, width, height)

    # ------------------------------------------------------------------ views
    @property
    def cam_to_world(self) -> Float[Tensor, "C 4 4"]:
        """Camera-to-world matrices, OpenCV convention."""
        return conventions.invert_rigid(self.world_to_cam)

    @property
    def centers(self) -> Float[Tensor, "C 3"]:
        """Camera centres in world coordinates."""
        return self.cam_to_world[:, :3, 3]

    @property
    def device(self) -> torch.device:
        return self.K.device

    def __len__(self) -> int:
        return self.K.shape[0]

    def __getitem__(self, index: int | slice | Tensor) -> Cameras:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Cameras(self.K[index], self.world_to_cam[index], self.width, self.height)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Cameras:
        return Cameras(self.K.to(device=device, dtype=dtype),
                       self.world_to_cam.to(device=device, dtype=dtype), self.width, self.height)

    def resized(self, width: int, height: int) -> Cameras:
        """The same cameras rendering an image of ``width`` x ``height`` (intrinsics rescaled)."""
        K = self.K.clone()
        K[:, 0] *= width / self.width
        K[:, 1] *= height / self.height
        return Cameras(K, self.world_to_cam, int(width), int(height))

    @staticmethod
    def cat(cameras: list[Cameras]) -> Cameras:
        sizes = {(c.width, c.height) for c in cameras}
        if len(sizes) != 1:
            raise ValueError(f"Cameras.cat: cameras must share one image size, got {sorted(sizes)}")
        w, h = sizes.pop()
        return Cameras(torch.cat([c.K for c in cameras]),
                       torch.cat([c.world_to_cam for c in cameras]), w, h)
