"""Camera-convention conversions, all in one place.

splat3d works internally in the **OpenCV** camera convention: x right, y down, z forward,
with ``world_to_cam`` matrices mapping world points into that camera frame.
nerfstudio / Blender ``transform_matrix`` entries are camera-to-world matrices in the
**OpenGL** convention (x right, y up, z backward). The two differ by flipping the camera's
y and z axes, which is its own inverse.
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float
from torch import Tensor

_FLIP_YZ = (1.0, -1.0, -1.0, 1.0)


def opengl_to_opencv(c2w: Float[Tensor, "*B 4 4"]) -> Float[Tensor, "*B 4 4"]:
    """Camera-to-world in OpenGL convention -> camera-to-world in OpenCV convention."""
    flip = torch.tensor(_FLIP_YZ, dtype=c2w.dtype, device=c2w.device)
    return c2w * flip  # scales columns 1 and 2, i.e. the camera's y and z axes


def opencv_to_opengl(c2w: Float[Tensor, "*B 4 4"]) -> Float[Tensor, "*B 4 4"]:
    """Camera-to-world in OpenCV convention -> camera-to-world in OpenGL convention."""
    return opengl_to_opencv(c2w)  # the flip is an involution


def llff_to_opencv(c2w: Float[Tensor, "*B 3 4"]) -> Float[Tensor, "*B 3 4"]:
    """Camera-to-world from LLFF's ``poses_bounds.npy`` -> OpenCV convention.

    LLFF (Mildenhall et al. 2019, ``imgs2poses.py``) stores the camera axes as the columns
    ``[down, right, backward]``; OpenCV's are ``[right, down, forward]``. Works on ``[...,3,4]``
    and ``[...,4,4]`` matrices; the translation column is unchanged.
    """
    out = c2w.clone()
    out[..., :3, 0] = c2w[..., :3, 1]
    out[..., :3, 1] = c2w[..., :3, 0]
    out[..., :3, 2] = -c2w[..., :3, 2]
    return out


def invert_rigid(m: Float[Tensor, "*B 4 4"]) -> Float[Tensor, "*B 4 4"]:
    """Inverse of a rigid (rotation + translation) 4x4 transform, exact and cheap."""
    r = m[..., :3, :3]
    t = m[..., :3, 3:]
    out = torch.zeros_like(m)
    rt = r.transpose(-1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3:] = -rt @ t
    out[..., 3, 3] = 1.0
    return out


def look_at(
    eye: Float[Tensor, "*B 3"], target: Float[Tensor, "*B 3"], up: Float[Tensor, "*B 3"]
) -> Float[Tensor, "*B 4 4"]:
    """OpenCV camera-to-world matrix of a camera at ``eye`` looking at ``target``.

    ``up`` is the world direction that should appear up in the image (it must not be
    parallel to the viewing direction).
    """
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.linalg.cross(forward, up.expand_as(forward), dim=-1)
    if bool((right.norm(dim=-1) < 1e-8).any()):
        raise ValueError("look_at: 'up' is parallel to the viewing direction")
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.linalg.cross(forward, right, dim=-1)
    c2w = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[..., :3, 0] = right
    c2w[..., :3, 1] = down
    c2w[..., :3, 2] = forward
    c2w[..., :3, 3] = eye
    c2w[..., 3, 3] = 1.0
    return c2w


def fov_to_focal(fov: float, size: float) -> float:
    """Focal length in pixels for a full field of view ``fov`` (radians) across ``size`` pixels."""
    return 0.5 * size / math.tan(0.5 * fov)


def focal_to_fov(focal: float, size: float) -> float:
    """Full field of view (radians) for a focal length in pixels across ``size`` pixels."""
    return 2.0 * math.atan(0.5 * size / focal)
