"""DeepFloyd IF stage I as a prior: a pixel-space cascaded diffusion model (DeepFloyd / Stability
AI 2023, after Imagen, Saharia et al. 2022) with a T5 text encoder, 64 x 64 RGB images,
eps-prediction with learned variance (the variance channels are dropped).

Loaded from a local folder only (``local_files_only=True``); see :func:`load_deepfloyd_if`.
Large guidance scales suit IF; pass :class:`~text2d3.solvers.DynamicThreshold` to the solver
when sampling with them.

Example:
    >>> prior = load_deepfloyd_if("/models/IF-I-XL-v1.0")  # doctest: +SKIP
    >>> generate(prior, ["a red cube"], steps=20, guidance=7.0).shape  # doctest: +SKIP
    torch.Size([1, 64, 64, 3])
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
    "text_encoder": "config.json + weights of a transformers T5EncoderModel",
    "tokenizer": "tokenizer_config.json + the T5 tokenizer files",
    "unet": "config.json + weights of a UNet2DConditionModel (stage I)",
}
"""Sub-folders :func:`load_deepfloyd_if` reads, and what each holds (the pipeline's
``safety_checker``, ``feature_extractor`` and ``watermarker`` are not used)."""


class DeepFloydIFPrior(DiffusersPrior):
    """IF stage I behind :class:`~text2d3.priors.base.DiffusionPrior`; model space is RGB in
    ``[-1, 1]`` at the UNet's ``sample_size`` (64)."""

    def text_encoder_kwargs(self, tokens: Any) -> dict:
        return {"attention_mask": tokens.attention_mask.to(self.device)}

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B 3 h w"]:
        return resize_images(images.to(self.device, self.dtype), self.resolution) * 2 - 1

    def decode(self, x: Float[Tensor, "B 3 h w"]) -> Float[Tensor, "B H W 3"]:
        return ((x.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)


def load_deepfloyd_if(
    folder: Path | str, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
) -> DeepFloydIFPrior:
    """IF stage I from a local folder (e.g. ``DeepFloyd/IF-I-XL-v1.0`` downloaded beforehand);
    raises ``FileNotFoundError`` listing :data:`LAYOUT` when a component is missing."""
    folder = check_layout(Path(folder), LAYOUT, "DeepFloyd IF stage I")
    diffusers = require_diffusers()
    import transformers

    common = {"local_files_only": True}
    weights = {**common, "use_safetensors": True}  # never unpickle a folder's .bin files
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **weights)
    text_encoder = transformers.T5EncoderModel.from_pretrained(folder, subfolder="text_encoder",
                                                               **weights)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, subfolder="tokenizer", **common)
    unet, text_encoder = (m.to(device=device, dtype=dtype).eval().requires_grad_(False)
                          for m in (unet, text_encoder))
    return DeepFloydIFPrior(folder, unet, tokenizer, text_encoder,
                            int(unet.config.sample_size), 1)
