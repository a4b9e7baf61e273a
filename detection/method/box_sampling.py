"""Box-focused sampling of Gaussian blobs (3DGS-DET, Sec. 3.4) and its baselines.

Cao et al., 2024, "3DGS-DET: Empower 3D Gaussian Splatting with Boundary Guidance and
Box-Focused Sampling for 3D Object Detection", Sec. 3.4: the 2D boxes a detector finds in
the posed views are lifted to 3D frustums (box corners back-projected at the near and far
depth of the scene); a Gaussian centre inside a frustum gets the object probability
``p_obj``, the highest class score among the boxes whose frustum holds it, and every other
centre the background probability ``p_bg``. ``M`` blobs are then drawn in proportion to this
probability, which keeps object blobs and thins out background ones before the detector.
Random sampling and farthest point sampling are the comparisons of the paper's ablation.

Example:
    >>> from splat3d.cameras import Cameras
    >>> cams = Cameras.from_look_at(torch.tensor([[0., -4., 0.]]), torch.zeros(1, 3),
    ...                             fov_x=1.0, width=64, height=48)
    >>> pts = torch.tensor([[0., 0., 0.], [3., 0., 0.]])
    >>> prob = object_probability(pts, cams, [torch.tensor([[24., 16., 40., 32.]])],
    ...                           [torch.tensor([0.9])], z_min=0.5, z_max=8.0)
    >>> prob
    tensor([0.9000, 0.0100])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from splat3d.cameras import Cameras


def _check_points(points: Tensor, who: str) -> None:
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{who}: points must be [N, 3], got {tuple(points.shape)}")


def _check_depths(z_min: float, z_max: float, who: str) -> None:
    if not 0 < z_min < z_max:
        raise ValueError(f"{who}: need 0 < z_min < z_max, got z_min={z_min}, z_max={z_max}")


def _frustums_contain(
    points: Float[Tensor, "N 3"], camera: Cameras, boxes: Float[Tensor, "B 4"],
    z_min: float, z_max: float,
) -> Bool[Tensor, "B N"]:
    """Which of ``B`` box frustums of one camera hold each point (one projection for all)."""
    w2c = camera.world_to_cam[0].to(points)
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]  # [N, 3] camera space
    z = cam[:, 2]
    uvw = cam @ camera.K[0].to(points).T  # [N, 3]
    # Points behind the camera are excluded by the depth test; clamping only avoids 0 / 0.
    uv = uvw[:, :2] / z.clamp_min(torch.finfo(points.dtype).tiny)[:, None]  # [N, 2] pixels
    in_depth = (z >= z_min) & (z <= z_max)  # [N]
    u, v = uv[None, :, 0], uv[None, :, 1]  # [1, N]
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))  # [B, 1]
    return (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1) & in_depth


def _as_boxes(boxes: Tensor, points: Tensor, who: str) -> Tensor:
    boxes = torch.as_tensor(boxes).to(points)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{who}: boxes must be [B, 4] (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    if bool((boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any()):
        raise ValueError(f"{who}: every box needs x0 <= x1 and y0 <= y1, got {boxes.tolist()}")
    return boxes


def box_frustum_contains(
    points: Float[Tensor, "N 3"], camera: Cameras, box: Float[Tensor, " 4"],
    z_min: float, z_max: float,
) -> Bool[Tensor, " N"]:
    """Which points lie in the frustum of one 2D box (3DGS-DET, Sec. 3.4).

    The paper's frustum is the hexahedron whose 8 corners are the box corners
    ``(x0|x1, y0|y1)`` back-projected through ``K^-1`` at camera depths ``z_min`` and
    ``z_max`` and moved to the world by the camera-to-world pose. For a pinhole camera that
    solid is exactly the set of points whose projection falls inside the box (the four side
    faces are planes through the camera centre and a box edge) and whose camera depth ``z``
    (the z coordinate, not the distance) lies in ``[z_min, z_max]`` (the back-projection at
    depth ``d`` lands on the plane ``z = d``). This function uses that projection test, which
    needs one matrix product per point instead of six half-space tests; faces count as inside.

    Args:
        points: ``[N, 3]`` world points (Gaussian centres).
        camera: one camera (``len(camera) == 1``), OpenCV convention, ``K`` in pixels.
        box: ``(x0, y0, x1, y1)`` in pixels, ``x0 <= x1``, ``y0 <= y1``.
        z_min, z_max: the depth range, ``0 < z_min < z_max``.

    Returns:
        ``[N]`` boolean mask.
    """
    who = "box_frustum_contains"
    _check_points(points, who)
    _check_depths(z_min, z_max, who)
    if len(camera) != 1:
        raise ValueError(f"{who}: expected a single camera, got {len(camera)}")
    box = torch.as_tensor(box)
    if box.shape != (4,):
        raise ValueError(f"{who}: box must have shape [4] (x0, y0, x1, y1), got {tuple(box.shape)}")
    return _frustums_contain(points, camera, _as_boxes(box[None], points, who), z_min, z_max)[0]


def object_probability(
    points: Float[Tensor, "N 3"],
    cameras: Cameras,
    boxes_per_view: Sequence[Float[Tensor, "B 4"]],
    scores_per_view: Sequence[Float[Tensor, " B"]],
    z_min: float | Float[Tensor, " C"],
    z_max: float | Float[Tensor, " C"],
    p_bg: float = 0.01,
) -> Float[Tensor, " N"]:
    """Object probability of every Gaussian centre from multi-view 2D boxes (Sec. 3.4).

    ``p(x) = max {score_b : view v, box b of v, x in frustum(v, b)}`` when some frustum holds
    ``x`` (the paper's ``p_obj``, a box's score being its highest class score), and
    ``p(x) = p_bg`` otherwise. ``p_bg`` is not mixed into ``p_obj``: a point inside a frustum
    keeps the box score even when that score is below ``p_bg``.

    Args:
        points: ``[N, 3]`` Gaussian centres in world coordinates.
        cameras: the ``C`` posed views.
        boxes_per_view: ``C`` tensors ``[B_v, 4]`` of pixel boxes ``(x0, y0, x1, y1)``.
        scores_per_view: ``C`` tensors ``[B_v]`` of box scores.
        z_min, z_max: frustum depth range, one float for all views or ``[C]`` per view.
        p_bg: probability outside every frustum (default 0.01).

    Returns:
        ``[N]`` probabilities (unnormalised weights for :func:`box_focused_sample`).
    """
    who = "object_probability"
    _check_points(points, who)
    c = len(cameras)
    if len(boxes_per_view) != c or len(scores_per_view) != c:
        raise ValueError(f"{who}: need one boxes and one scores tensor per view ({c} views), "
                         f"got {len(boxes_per_view)} and {len(scores_per_view)}")
    z_min_v, z_max_v = (torch.as_tensor(z, dtype=torch.float64).reshape(-1) for z in (z_min, z_max))
    if z_min_v.numel() not in (1, c) or z_max_v.numel() not in (1, c):
        raise ValueError(f"{who}: z_min and z_max must be floats or have one entry per view "
                         f"({c}), got {z_min_v.numel()} and {z_max_v.numel()}")
    z_min_v, z_max_v = z_min_v.expand(c).tolist(), z_max_v.expand(c).tolist()
    best = torch.full((points.shape[0],), -torch.inf, dtype=points.dtype, device=points.device)
    for v in range(c):
        _check_depths(z_min_v[v], z_max_v[v], f"{who} (view {v})")
        boxes = _as_boxes(boxes_per_view[v], points, f"{who} (view {v})")
        scores = torch.as_tensor(scores_per_view[v]).to(points)
        if scores.shape != (boxes.shape[0],):
            raise ValueError(f"{who} (view {v}): scores must be [{boxes.shape[0]}], "
                             f"got {tuple(scores.shape)}")
        if boxes.shape[0] == 0:
            continue
        inside = _frustums_contain(points, cameras[v], boxes, z_min_v[v], z_max_v[v])  # [B, N]
        masked = torch.where(inside, scores[:, None], -torch.inf)  # [B, N]
        best = torch.maximum(best, masked.amax(dim=0))
    return torch.where(torch.isfinite(best), best, torch.full_like(best, p_bg))


def _check_count(m: int, n: int, who: str) -> None:
    if m < 0 or m > n:
        raise ValueError(f"{who}: cannot draw m={m} of n={n} points without replacement")


def box_focused_sample(
    points: Float[Tensor, "N 3"], prob: Float[Tensor, " N"], m: int,
    generator: torch.Generator | None = None,
) -> Int[Tensor, " M"]:
    """``m`` distinct point indices drawn in proportion to ``prob`` (3DGS-DET, Sec. 3.4).

    Successive sampling without replacement (``torch.multinomial``): each draw picks one of
    the remaining points with probability ``prob_i / sum(remaining prob)``. So the first draw
    follows ``prob`` exactly and later draws renormalise over what is left.

    Args:
        points: ``[N, 3]`` Gaussian centres (only their count is used, to check ``prob``).
        prob: ``[N]`` non-negative weights, e.g. :func:`object_probability`; need not sum to 1.
        m: number of indices, ``0 <= m <= N``; at least ``m`` weights must be positive.
        generator: random generator for reproducible draws.

    ``torch.multinomial`` accepts at most 2**24 categories, so ``N`` is limited to about
    16.7 M Gaussians.

    Returns:
        ``[m]`` int64 indices, no duplicates.
    """
    who = "box_focused_sample"
    _check_points(points, who)
    n = points.shape[0]
    if prob.shape != (n,):
        raise ValueError(f"{who}: prob must be [{n}] (one per point), got {tuple(prob.shape)}")
    _check_count(m, n, who)
    if bool((prob < 0).any()) or not bool(torch.isfinite(prob).all()):
        raise ValueError(f"{who}: prob must be finite and non-negative")
    positive = int((prob > 0).sum())
    if positive < m:
        raise ValueError(f"{who}: only {positive} points have positive probability, "
                         f"cannot draw m={m} distinct ones")
    if m == 0:
        return torch.zeros(0, dtype=torch.long, device=prob.device)
    return torch.multinomial(prob, m, replacement=False, generator=generator)


def random_sample(n: int, m: int, generator: torch.Generator | None = None) -> Int[Tensor, " M"]:
    """``m`` distinct indices of ``range(n)``, uniformly (the random-sampling baseline)."""
    _check_count(m, n, "random_sample")
    return torch.randperm(n, generator=generator)[:m]


def farthest_point_sample(
    points: Float[Tensor, "N 3"], m: int, start: int = 0
) -> Int[Tensor, " M"]:
    """Exact greedy farthest point sampling (the FPS baseline of 3DGS-DET, Sec. 3.4).

    Starts at ``start``; each next index is the point with the largest distance to the
    points chosen so far (ties go to the lowest index). The distance to the chosen set is
    updated with one vectorised pass over the points per pick: O(N M) time, O(N) memory.

    Example:
        >>> farthest_point_sample(torch.tensor([[0., 0, 0], [1, 0, 0], [5, 0, 0]]), 2)
        tensor([0, 2])
    """
    _check_points(points, "farthest_point_sample")
    n = points.shape[0]
    _check_count(m, n, "farthest_point_sample")
    if m > 0 and not 0 <= start < n:
        raise ValueError(f"farthest_point_sample: start must be in [0, {n}), got {start}")
    chosen = torch.zeros(m, dtype=torch.long, device=points.device)
    if m == 0:
        return chosen
    chosen[0] = start
    dist = ((points - points[start]) ** 2).sum(-1)  # [N] squared distance to the chosen set
    for i in range(1, m):
        nxt = torch.argmax(dist)
        chosen[i] = nxt
        dist = torch.minimum(dist, ((points - points[nxt]) ** 2).sum(-1))
    return chosen
