"""Stable Diffusion 2.1-base as a prior: latent diffusion (Rombach et al. 2022) with a CLIP text
encoder, eps-prediction, 512 x 512 images and 4 x 64 x 64 latents.

Loaded from a local folder only (``local_files_only=True``); see :func:`load_stable_diffusion`.

Example:
    >>> prior = load_stable_diffusion("/models/stable-diffusion-2-1-base")  # doctest: +SKIP
    >>> generate(prior, ["a red cube"], steps=20, guidance=7.5).shape  # doctest: +SKIP
    torch.Size([1, 512, 512, 3])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.priors.base import resize_images
from text2d3.priors.diffusers_prior import DiffusersPrior, check_layout, require_diffusers

LAYOUT = {
    "scheduler": "scheduler_config.json (the training noise schedule)",
    "text_encoder": "config.json + weights of a transformers CLIPTextModel",
    "tokenizer": "tokenizer_config.json, vocab.json, merges.txt (CLIPTokenizer)",
    "unet": "config.json + weights of a UNet2DConditionModel",
    "vae": "config.json + weights of an AutoencoderKL",
}
"""Sub-folders :func:`load_stable_diffusion` reads, and what each holds."""


class StableDiffusionPrior(DiffusersPrior):
    """SD behind :class:`~text2d3.priors.base.DiffusionPrior`; model space is the VAE latent
    scaled by ``vae.config.scaling_factor`` (0.18215 for SD 2.1)."""

    def __init__(self, folder: Path, unet: Any, tokenizer: Any, text_encoder: Any,
                 vae: Any, resolution: int | None = None) -> None:
        downsample = 2 ** (len(vae.config.block_out_channels) - 1)
        side = resolution or int(unet.config.sample_size) * downsample
        super().__init__(folder, unet, tokenizer, text_encoder, side, downsample)
        self.vae = vae

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B 4 h w"]:
        """Images in ``[0, 1]`` to scaled latents (the posterior mean, as in DreamFusion-style
        latent SDS; gradients flow through the encoder)."""
        x = resize_images(images.to(self.device, self.dtype), self.resolution) * 2 - 1
        return self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor

    def decode(self, x: Float[Tensor, "B 4 h w"]) -> Float[Tensor, "B H W 3"]:
        images = self.vae.decode(x.to(self.dtype) / self.vae.config.scaling_factor).sample
        return ((images.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)


def load_stable_diffusion(
    folder: Path | str, *, device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32, resolution: int | None = None,
) -> StableDiffusionPrior:
    """Stable Diffusion from a local folder (e.g. ``stabilityai/stable-diffusion-2-1-base``
    downloaded beforehand); raises ``FileNotFoundError`` listing :data:`LAYOUT` when a component
    is missing. ``resolution`` defaults to the UNet's ``sample_size`` times the VAE factor."""
    folder = check_layout(Path(folder), LAYOUT, "Stable Diffusion")
    diffusers = require_diffusers()
    import transformers

    common = {"local_files_only": True}
    weights = {**common, "use_safetensors": True}  # never unpickle a folder's .bin files
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **weights)
    vae = diffusers.AutoencoderKL.from_pretrained(folder, subfolder="vae", **weights)
    text_encoder = transformers.CLIPTextModel.from_pretrained(folder, subfolder="text_encoder",
                                                              **weights)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, subfolder="tokenizer", **common)
    modules = [m.to(device=device, dtype=dtype).eval().requires_grad_(False)
               for m in (unet, vae, text_encoder)]
    return StableDiffusionPrior(folder, modules[0], tokenizer, modules[2], modules[1], resolution)
