"""Files a run writes besides checkpoints: JSON, comparison images and the training plot.

Every file goes through :func:`splat3d.fileio.atomic_path`, so an interrupted run never
leaves a truncated file behind.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from splat3d.fileio import atomic_path, save_png
from splat3d.safepath import child_path

ERROR_GAIN = 4.0
"""The error panel shows ``|render - gt|`` (mean over RGB) times this, clipped to [0, 1]."""


def comparison_image(gt: Float[Tensor, "H W 3"],
                     render: Float[Tensor, "H W 3"]) -> Float[Tensor, "H W3 3"]:
    """Side by side: ground truth | render | amplified absolute error (grey)."""
    err = ((render - gt).abs().mean(-1, keepdim=True) * ERROR_GAIN).clamp(0, 1).expand_as(gt)
    return torch.cat([gt, render.clamp(0, 1), err], dim=1)


def save_view_images(folder: Path, name: str, gt: Tensor, render: Tensor) -> None:
    """``renders/NAME.png`` and ``comparisons/NAME.png`` for one evaluated view.

    ``NAME`` comes from the dataset, so it is made safe (:func:`splat3d.safepath.child_path`):
    the files stay inside ``renders/`` and ``comparisons/`` whatever the frame is called.
    """
    save_png(child_path(Path(folder) / "renders", name, ".png"), render)
    save_png(child_path(Path(folder) / "comparisons", name, ".png"), comparison_image(gt, render))


def plot_training_curves(path: Path, history: list[dict[str, float]],
                         evals: dict[int, dict[str, Any]]) -> bool:
    """Loss and PSNR versus step (train: logged steps; test: evaluation steps) as a PNG.

    Returns False (with a warning) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed; skipping the training-curve plot "
                      "(pip install matplotlib)", stacklevel=2)
        return False
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 4))
    steps = [h["step"] for h in history]
    ax_loss.plot(steps, [h["loss"] for h in history], lw=1)
    ax_loss.set(xlabel="step", ylabel="training loss", yscale="log")
    ax_psnr.plot(steps, [h["psnr"] for h in history], lw=1, label="train view")
    if evals:
        ks = sorted(evals)
        ax_psnr.plot(ks, [evals[k]["psnr"] for k in ks], "o-", label="test mean")
    ax_psnr.set(xlabel="step", ylabel="PSNR (dB)")
    ax_psnr.legend()
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return True
