"""Shared plumbing of the ``diffusers`` priors: local loading, folder checks, schedule, prompts.

Only local folders are read (``local_files_only=True``); nothing is downloaded. A folder is the
layout ``DiffusionPipeline.save_pretrained`` writes (one sub-folder per component). Stable
Diffusion (:mod:`.stable_diffusion`) and DeepFloyd IF (:mod:`.deepfloyd_if`) differ only in
their text encoder and in the map between images and model space.

The training schedule is read from ``scheduler/scheduler_config.json`` (``beta_schedule``,
``num_train_timesteps``, ``prediction_type``) and becomes a
:class:`~text2d3.solvers.VPDiscrete` over the scheduler's ``alphas_cumprod``; the network is
called at the fractional timestep ``VPDiscrete.timestep(t)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from text2d3.priors.base import Conditioning, negative_prompts
from text2d3.solvers import VPDiscrete
from text2d3.solvers.model import Prediction

_PREDICTIONS: dict[str, Prediction] = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


def require_diffusers() -> Any:
    """The ``diffusers`` module, or an ``ImportError`` naming the extra to install."""
    try:
        import diffusers
        import transformers  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "diffusers priors need the optional dependencies: pip install 'splat3d[diffusion]' "
            f"(diffusers and transformers); import failed with: {err}") from err
    return diffusers


def check_layout(folder: Path, components: dict[str, str], family: str) -> Path:
    """Raise ``FileNotFoundError`` listing the expected layout unless ``folder`` has every
    component sub-folder with its marker file (``components``: sub-folder -> what it holds)."""
    folder = Path(folder).expanduser()
    markers = {"tokenizer": "tokenizer_config.json", "scheduler": "scheduler_config.json"}
    missing = [name for name in components
               if not (folder / name / markers.get(name, "config.json")).is_file()]
    if missing:
        layout = "\n".join(f"  {name}/{' ' * (14 - len(name))}{what}"
                           for name, what in components.items())
        raise FileNotFoundError(
            f"{folder}: not a local {family} folder (missing {missing}). Expected the layout "
            f"written by diffusers' save_pretrained:\n{folder}/\n{layout}\n"
            "Weights are never downloaded; fetch them yourself, e.g. "
            "`huggingface-cli download <repo> --local-dir <folder>`.")
    return folder


def load_schedule(folder: Path) -> tuple[VPDiscrete, Prediction]:
    """The discrete VP schedule and prediction type of ``folder/scheduler``."""
    diffusers = require_diffusers()
    config = diffusers.DDPMScheduler.load_config(folder, subfolder="scheduler",
                                                 local_files_only=True)
    scheduler = diffusers.DDPMScheduler.from_config(config)
    kind = scheduler.config.prediction_type
    if kind not in _PREDICTIONS:
        raise ValueError(f"{folder}/scheduler: prediction_type must be one of "
                         f"{sorted(_PREDICTIONS)}, found {kind!r}")
    return VPDiscrete(scheduler.alphas_cumprod.double()), _PREDICTIONS[kind]


class DiffusersPrior:
    """Text encoder + UNet of a ``diffusers`` pipeline behind the
    :class:`~text2d3.priors.base.DiffusionPrior` interface (subclasses add ``encode``/``decode``).
    """

    def __init__(self, folder: Path, unet: Any, tokenizer: Any, text_encoder: Any,
                 resolution: int, downsample: int) -> None:
        self.folder = Path(folder)
        self.unet, self.tokenizer, self.text_encoder = unet, tokenizer, text_encoder
        self.schedule, self.prediction = load_schedule(self.folder)
        self.resolution = resolution
        self.downsample = downsample
        self.channels = int(unet.config.in_channels)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @torch.no_grad()
    def embed_text(self, prompts: Sequence[str]) -> Float[Tensor, "B L D"]:
        """Text-encoder hidden states for ``prompts`` padded to the tokenizer's maximum length."""
        tokens = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                                max_length=self.tokenizer.model_max_length, return_tensors="pt")
        kwargs = self.text_encoder_kwargs(tokens)
        hidden = self.text_encoder(tokens.input_ids.to(self.device), **kwargs)[0]
        return hidden.to(self.dtype)

    def text_encoder_kwargs(self, tokens: Any) -> dict:
        """Extra text-encoder arguments (IF passes the attention mask; CLIP needs none)."""
        return {}

    def encode_prompt(
        self, prompts: Sequence[str], negative: Sequence[str] | None = None
    ) -> Conditioning:
        negative = negative_prompts(prompts, negative)
        return Conditioning(self.embed_text(prompts), self.embed_text(negative))

    def predict(
        self, x: Float[Tensor, "B C h w"], t: Tensor, embeddings: Float[Tensor, "B L D"]
    ) -> Float[Tensor, "B C h w"]:
        """The UNet's prediction at the fractional timestep of ``t`` (learned-variance channels,
        as in IF, are dropped)."""
        timestep = self.schedule.timestep(torch.as_tensor(t, dtype=torch.float64))
        timestep = timestep.to(device=x.device, dtype=torch.float32).expand(x.shape[0])
        out = self.unet(x.to(self.dtype), timestep, encoder_hidden_states=embeddings).sample
        return out[:, : x.shape[1]].to(x.dtype)
