"""Held-out evaluation: PSNR and SSIM (Wang et al., 2004) per view and their means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from splat3d.gaussians import Gaussians
from splat3d.metrics import psnr, ssim
from splat3d.rasterize import rasterize
from splat3d.safepath import unique_names
from splat3d.train.config import TrainConfig
from splat3d.train.outputs import save_view_images
from splat3d.train.scene import (
    SceneData,
    background_color,
    frame_name,
    split_indices,
    target_view,
)


@torch.no_grad()
def evaluate_views(gaussians: Gaussians, data: SceneData, config: TrainConfig,
                   sh_degree: int, image_dir: Path | None = None) -> dict[str, Any]:
    """Render every view of ``config.eval_split`` on the dataset background and score it.

    Returns ``{"psnr", "ssim", "num_views", "views": [{"name", "psnr", "ssim"}, ...]}``;
    with ``image_dir`` each render and a ground truth | render | error comparison is saved.

    Raises:
        ValueError: if the split does not exist or is empty.
    """
    indices = split_indices(data, config.eval_split)
    if not indices:
        raise ValueError(f"evaluation split {config.eval_split!r} has no views")
    bg = background_color(data)
    # Dataset frame names may repeat once flattened ("a/b", "a_b"): one file per view.
    stems = unique_names([frame_name(data, i) for i in indices], (".png",))
    views = []
    for i, stem in zip(indices, stems, strict=True):
        gt, _ = target_view(data, i, bg, config.device)
        out = rasterize(gaussians, data.cameras[i].to(config.device), sh_degree=sh_degree,
                        background=bg.to(config.device), mode=config.mode,
                        backend=config.backend)
        render = out.rgb.clamp(0, 1)
        name = frame_name(data, i)
        views.append({"name": name, "index": i, "psnr": float(psnr(render, gt)[0]),
                      "ssim": float(ssim(render, gt)[0])})
        if image_dir is not None:
            save_view_images(image_dir, stem, gt[0].cpu(), render[0].cpu())
    return {"psnr": sum(v["psnr"] for v in views) / len(views),
            "ssim": sum(v["ssim"] for v in views) / len(views),
            "num_views": len(views), "views": views}
