"""Surface Gaussians of the room primitives against closed-form surfaces (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detection.synthetic.primitives import Part, part_gaussians, yaw_matrix


def to_local(points: torch.Tensor, yaw: float, origin, center) -> np.ndarray:
    """World points back to the part's frame, in float64 with an explicit rotation."""
    c, s = math.cos(yaw), math.sin(yaw)
    p = points.double().numpy() - np.asarray(origin, np.float64)
    local = np.stack([c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1], p[:, 2]], -1)
    return local - np.asarray(center, np.float64)


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.0])
def test_box_points_lie_on_faces_with_outward_normals(yaw):
    part = Part("box", (0.2, -0.1, 0.5), (1.0, 0.6, 0.4), (0.5, 0.5, 0.5))
    origin = (1.0, 2.0, 0.0)
    g = part_gaussians(part, yaw, origin, density=400.0, generator=torch.Generator().manual_seed(0))
    area = 2 * (1.0 * 0.6 + 1.0 * 0.4 + 0.6 * 0.4)
    assert abs(len(g) - area * 400) <= 6  # one rounding per face
    local = to_local(g.means, yaw, origin, part.center)
    half = np.array(part.size) / 2
    on_face = np.isclose(np.abs(local), half, atol=1e-5)
    assert on_face.any(1).all()
    assert (np.abs(local) <= half + 1e-5).all()
    # the disc normal is the Gaussian's local z axis: it must be the face's outward normal
    normal_world = g.rotations[:, :, 2].double().numpy()
    normal_local = to_local(torch.from_numpy(normal_world), yaw, (0, 0, 0), (0, 0, 0))
    face_axis = np.argmax(on_face, axis=1)
    expected = np.zeros_like(normal_local)
    rows = np.arange(len(local))
    expected[rows, face_axis] = np.sign(local[rows, face_axis])
    np.testing.assert_allclose(normal_local, expected, atol=1e-5)


def test_cylinder_points_lie_on_the_elliptic_surface():
    part = Part("cylinder", (0.0, 0.0, 0.3), (0.2, 0.1, 0.6), (0.5, 0.5, 0.5))
    g = part_gaussians(part, 0.3, (0, 0, 0), density=2000.0,
                       generator=torch.Generator().manual_seed(1))
    local = to_local(g.means, 0.3, (0, 0, 0), part.center)
    ellipse = (local[:, 0] / 0.1) ** 2 + (local[:, 1] / 0.05) ** 2
    side = np.isclose(ellipse, 1.0, atol=1e-4)
    cap = np.isclose(np.abs(local[:, 2]), 0.3, atol=1e-6) & (ellipse <= 1 + 1e-4)
    assert (side | cap).all()
    assert (np.abs(local[:, 2]) <= 0.3 + 1e-6).all()


def test_flat_discs_and_colours():
    part = Part("box", (0, 0, 0), (1, 1, 1), (0.8, 0.2, 0.1), "stripes", ("+z",))
    g = part_gaussians(part, 0.0, (0, 0, 0), 100.0, torch.Generator().manual_seed(0))
    scales = g.scales
    torch.testing.assert_close(scales[:, 2], scales[:, 0] * 0.1)
    torch.testing.assert_close(scales[:, 0], torch.full_like(scales[:, 0], 0.6 * 100 ** -0.5))
    rgb = (g.sh[:, 0] * 0.28209479177387814 + 0.5)
    ratio = rgb / torch.tensor([0.8, 0.2, 0.1])  # texture scales all channels alike
    torch.testing.assert_close(ratio[:, 0], ratio[:, 1], atol=1e-5, rtol=1e-5)
    assert 0.6 < float(ratio.min()) and float(ratio.max()) < 1.2


def test_yaw_matrix_is_the_counter_clockwise_rotation():
    torch.testing.assert_close(yaw_matrix(math.pi / 2) @ torch.tensor([1.0, 0, 0]),
                               torch.tensor([0.0, 1.0, 0.0]), atol=1e-7, rtol=0)


def test_bad_input():
    with pytest.raises(ValueError, match="density"):
        part_gaussians(Part("box", (0, 0, 0), (1, 1, 1), (1, 1, 1)), 0.0, (0, 0, 0), 0.0,
                       torch.Generator())
    with pytest.raises(ValueError, match="kind"):
        part_gaussians(Part("cone", (0, 0, 0), (1, 1, 1), (1, 1, 1)), 0.0, (0, 0, 0), 1.0,
                       torch.Generator())
