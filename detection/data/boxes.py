"""The 3D box container shared by the dataset readers and the evaluation.

A box is seven numbers ``(cx, cy, cz, dx, dy, dz, yaw)`` in a z-up world frame:

* ``(cx, cy, cz)`` is the **geometric centre** of the box (not the bottom centre that
  mmdetection3d's ``DepthInstance3DBoxes`` stores; convert with ``cz = z_bottom + dz / 2``);
* ``(dx, dy, dz)`` are the **full** edge lengths along the box's own x, y and z axes
  (not half sizes, as some VoteNet code uses);
* ``yaw`` is the counter-clockwise rotation about +z, in radians, that takes the world x
  axis onto the box's x axis (the edge of length ``dx``). ``yaw = 0`` is an axis-aligned
  box, which is how every ScanNet ground-truth box is defined (VoteNet, Qi et al. 2019).
  ARKitScenes' own prepared ``*_bbox.npy`` stores the opposite sign ("clockwise heading");
  :mod:`detection.data.arkitscenes` converts to this convention.

Boxes are kept as float64 NumPy arrays: evaluation is a CPU, host-side computation and the
dataset files are NumPy arrays already; ``torch.from_numpy`` gives a zero-copy tensor view.

Example:
    >>> import numpy as np
    >>> b = Boxes3D(np.array([[0.0, 0.0, 0.5, 2.0, 1.0, 1.0, 0.0]]), np.array([2]))
    >>> b.volumes()
    array([2.])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

BOX_DIM = 7
"""Number of parameters of one box: ``cx cy cz dx dy dz yaw``."""


@dataclass(frozen=True)
class Boxes3D:
    """``K`` yaw-oriented 3D boxes with integer class labels and optional scores.

    Attributes:
        params: ``[K, 7]`` float64 ``(cx, cy, cz, dx, dy, dz, yaw)``, see the module docstring.
        labels: ``[K]`` int64 indices into the dataset's class tuple
            (:func:`detection.data.classes.dataset_classes`).
        scores: ``[K]`` float64 detection confidences, or ``None`` for ground truth.
    """

    params: Float[np.ndarray, "K 7"]
    labels: Int[np.ndarray, " K"]
    scores: Float[np.ndarray, " K"] | None = None

    def __post_init__(self) -> None:
        params = np.asarray(self.params, dtype=np.float64)
        labels = np.asarray(self.labels, dtype=np.int64)
        if params.ndim != 2 or params.shape[1] != BOX_DIM:
            raise ValueError(f"Boxes3D.params must have shape [K, 7], found {params.shape}")
        if labels.shape != (params.shape[0],):
            raise ValueError(
                f"Boxes3D.labels must have shape [{params.shape[0]}], found {labels.shape}"
            )
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "labels", labels)
        if self.scores is not None:
            scores = np.asarray(self.scores, dtype=np.float64)
            if scores.shape != (params.shape[0],):
                raise ValueError(
                    f"Boxes3D.scores must have shape [{params.shape[0]}], found {scores.shape}"
                )
            object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return self.params.shape[0]

    @classmethod
    def empty(cls, with_scores: bool = False) -> Boxes3D:
        """No boxes; ``with_scores`` gives an empty score array instead of ``None``."""
        scores = np.zeros(0) if with_scores else None
        return cls(np.zeros((0, BOX_DIM)), np.zeros(0, np.int64), scores)

    def select(self, mask: np.ndarray) -> Boxes3D:
        """The boxes where ``mask`` (a boolean ``[K]`` mask or an index array) selects."""
        scores = None if self.scores is None else self.scores[mask]
        return Boxes3D(self.params[mask], self.labels[mask], scores)

    def volumes(self) -> Float[np.ndarray, " K"]:
        """``dx * dy * dz`` per box."""
        return np.prod(self.params[:, 3:6], axis=1)


BOX_FIELDS: tuple[tuple[str, slice], ...] = (
    ("center", slice(0, 3)), ("size", slice(3, 6)), ("yaw", slice(6, 7)),
)
"""Name and columns of each field of a ``[K, 7]`` box row, as error messages name them."""


def check_box_values(params: Float[np.ndarray, "K 7"], where: str) -> None:
    """Raise ``ValueError`` naming ``where``, the first bad row and its field unless every
    centre, size and yaw is finite and every size is ``>= 0``.

    Readers call this on the rows of a file before building :class:`Boxes3D`, so a NaN
    ground-truth box never reaches the evaluation (a NaN box matches nothing and silently
    lowers AP; a negative size gives a negative volume and an IoU outside ``[0, 1]``).
    """
    for name, cols in BOX_FIELDS:
        bad = ~np.isfinite(params[:, cols]).all(axis=1)
        if name == "size":
            bad |= (params[:, cols] < 0).any(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            expected = "finite numbers >= 0" if name == "size" else "finite numbers"
            raise ValueError(f"{where}: row {k} {name}: expected {expected}, found "
                             f"{params[k, cols].tolist()}")


def bev_corners(params: Float[np.ndarray, "K 7"]) -> Float[np.ndarray, "K 4 2"]:
    """Bird's-eye-view corners of each box, counter-clockwise, starting at ``(+dx/2, +dy/2)``.

    Example:
        >>> bev_corners(np.array([[0, 0, 0, 2, 2, 1, 0.0]]))[0]
        array([[ 1.,  1.],
               [-1.,  1.],
               [-1., -1.],
               [ 1., -1.]])
    """
    half = params[:, None, 3:5] / 2  # [K, 1, 2]
    signs = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    local = half * signs  # [K, 4, 2]
    c, s = np.cos(params[:, 6])[:, None], np.sin(params[:, 6])[:, None]
    x = c * local[..., 0] - s * local[..., 1] + params[:, None, 0]
    y = s * local[..., 0] + c * local[..., 1] + params[:, None, 1]
    return np.stack([x, y], axis=-1)
