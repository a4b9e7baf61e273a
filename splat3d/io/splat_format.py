"""The compact ``.splat`` export read by web viewers (antimatter15/splat and its descendants).

Format: no header; 32 bytes per Gaussian, little-endian:

    position  3 x float32   centre
    scale     3 x float32   exp(log_scales), the activated standard deviations
    rgba      4 x uint8     rgb = clip(0.5 + SH_C0 * f_dc, 0, 1) * 255, a = sigmoid(opacity) * 255
    rotation  4 x uint8     normalised (w, x, y, z) quaternion q stored as q * 128 + 128

Only the SH DC term survives (view-dependent colour is dropped) and colour, opacity and
rotation are quantised, so the export is lossy: a viewer decodes ``byte / 255`` and
``(byte - 128) / 128``. Gaussians are written in descending ``volume * opacity``
(``exp(sum log_scales) * sigmoid(opacity)``), the order antimatter15's ``convert.py`` writes,
so a viewer that streams the file shows the most visible Gaussians first.

Why written by hand: the format is a fixed numpy record; there is nothing to parse. We
round to the nearest byte where the reference converter truncates, which halves the
quantisation error and never differs by more than one step.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from splat3d.fileio import atomic_path
from splat3d.gaussians import Gaussians
from splat3d.io.stats import first_non_finite
from splat3d.sh import rgb_to_sh_dc, sh_dc_to_rgb

SPLAT_RECORD = np.dtype([
    ("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)),
    ("rotation", "u1", (4,)),
])
"""One Gaussian of a ``.splat`` file (32 bytes)."""

# Opacity bytes 0 and 255 decode to the centre of their quantisation bin, not to logit(0 or 1).
_ALPHA_RANGE = (0.5 / 255.0, 254.5 / 255.0)


class SplatFormatError(ValueError):
    """A file that is not a valid ``.splat``; the message names the file and the problem."""


def splat_order(gaussians: Gaussians) -> Int[Tensor, " N"]:
    """Indices sorting ``gaussians`` by descending ``exp(sum log_scales) * sigmoid(opacity)``.

    Compared in log space (``sum log_scales + log sigmoid(opacity)``, same order, no
    overflow); ties keep their input order.
    """
    g = gaussians.detach().to("cpu", torch.float64)
    importance = g.log_scales.sum(dim=1) + torch.nn.functional.logsigmoid(g.opacity_logits)
    return torch.argsort(importance, descending=True, stable=True)


def save_splat(path: str | os.PathLike, gaussians: Gaussians) -> None:
    """Write ``gaussians`` as a ``.splat`` file (see the module docstring), atomically.

    Raises ``ValueError`` for NaN/Inf parameters.

    Example:
        >>> save_splat("scene.splat", Gaussians.random_sphere(1000))  # doctest: +SKIP
    """
    path = Path(path)
    bad = first_non_finite(gaussians)
    if bad is not None:
        field, index = bad
        raise ValueError(f"{path}: refusing to save non-finite Gaussians.{field} at index {index}")
    g = gaussians.detach().to("cpu", torch.float64)[splat_order(gaussians)]
    records = np.zeros(len(g), SPLAT_RECORD)
    records["position"] = g.means.numpy()
    records["scale"] = g.scales.numpy()
    rgb = sh_dc_to_rgb(g.sh[:, 0, :]).clamp(0.0, 1.0)  # [N, 3]
    records["rgba"] = _to_byte(torch.cat([rgb, g.opacities[:, None]], dim=1) * 255.0)
    unit = g.quats / g.quats.norm(dim=1, keepdim=True).clamp_min(1e-30)
    records["rotation"] = _to_byte(unit * 128.0 + 128.0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(records.tobytes())


def load_splat(path: str | os.PathLike) -> Gaussians:
    """Read a ``.splat`` file into float32 degree-0 :class:`Gaussians`, in file order.

    The inverse of :func:`save_splat` up to quantisation: colour and opacity within half a
    byte step (1/510), normalised quaternion components within 1/256 (1/128 for a component
    above 127.5/128, which byte 255 caps). Opacity bytes 0 and 255 decode to 0.5/255 and
    254.5/255 so the logits stay finite. Quaternions are returned as decoded, unnormalised.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        SplatFormatError: not a regular file, a size that is not a multiple of 32 bytes, or a
            position or scale that is NaN/Inf or a scale that is not positive.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such .splat file", str(path))
    if not path.is_file():
        raise SplatFormatError(f"{path}: not a regular file")
    raw = path.read_bytes()  # no header to trust: the allocation is the file's own size
    if len(raw) % SPLAT_RECORD.itemsize:
        raise SplatFormatError(
            f"{path}: {len(raw)} bytes is not a whole number of {SPLAT_RECORD.itemsize}-byte "
            "Gaussians; not a .splat file or truncated")
    records = np.frombuffer(raw, SPLAT_RECORD)
    for field in ("position", "scale"):
        bad = ~np.isfinite(records[field]).all(axis=1)
        if field == "scale":
            bad |= ~(records[field] > 0).all(axis=1)
        if bad.any():
            i = int(bad.argmax())
            expected = "finite values > 0" if field == "scale" else "finite values"
            raise SplatFormatError(f"{path}: Gaussian {i} has an invalid {field} "
                                   f"{records[field][i].tolist()}; expected {expected} "
                                   f"({int(bad.sum())} of {len(records)} Gaussians are invalid)")
    rgba = torch.from_numpy(records["rgba"].astype(np.float32)) / 255.0  # [N, 4]
    alpha = rgba[:, 3].clamp(*_ALPHA_RANGE)
    return Gaussians(
        means=torch.from_numpy(records["position"].copy()),
        quats=(torch.from_numpy(records["rotation"].astype(np.float32)) - 128.0) / 128.0,
        log_scales=torch.from_numpy(np.log(records["scale"])),
        opacity_logits=torch.log(alpha / (1.0 - alpha)),
        sh=rgb_to_sh_dc(rgba[:, None, :3]),
    )


def _to_byte(values: Tensor) -> np.ndarray:
    """Round to the nearest integer and clip to 0..255 as uint8."""
    return torch.floor(values + 0.5).clamp(0, 255).to(torch.uint8).numpy()
