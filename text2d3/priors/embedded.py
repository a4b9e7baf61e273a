"""The embedded priors: small text-conditioned diffusion models that ship with the package.

Trained by :mod:`text2d3.priors.train` on multi-view renders of the procedural objects of
:mod:`text2d3.procedural`, so text-to-3D runs offline for prompts like ``"a red cube"``.

* ``"pixel"`` -- a U-Net denoiser on 32 x 32 RGB (the DDPM recipe, Ho et al. 2020).
* ``"latent"`` -- the same denoiser on the 4 x 8 x 8 latents of a small
  :class:`~text2d3.priors.autoencoder.Autoencoder` (latent diffusion, Rombach et al. 2022).

Both use the continuous cosine VP schedule (Nichol & Dhariwal 2021) and predict
``v = alpha eps - sigma x0`` (Salimans & Ho 2022), which stays well conditioned at both ends of
the cosine schedule. The text conditioning is a learned embedding of the (colour, shape) tokens
:func:`~text2d3.procedural.parse_prompt` reads from the prompt; one extra "null" token per slot is
the unconditional branch of classifier-free guidance (Ho & Salimans 2022), learned by dropping
the tokens during training.

Example:
    >>> prior = load_embedded("pixel")
    >>> cond = prior.encode_prompt(["a red cube", "a blue torus"])
    >>> cond.positive.tolist(), cond.negative.tolist()
    ([[0, 0], [4, 3]], [[6, 5], [6, 5]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from splat3d.tensorfile import load_tensor_file
from text2d3.priors.autoencoder import Autoencoder, AutoencoderConfig
from text2d3.priors.base import Conditioning, negative_prompts, resize_images
from text2d3.priors.unet import UNet, UNetConfig
from text2d3.procedural import COLOUR_NAMES, SHAPES, parse_prompt
from text2d3.solvers import VPCosine
from text2d3.solvers.model import Prediction

EmbeddedKind = Literal["pixel", "latent"]
WEIGHTS_DIR = Path(__file__).parent / "weights"
"""Where the committed weights live (``pixel.pt``, ``latent.pt``, ``classifier.pt``)."""
TIMESTEP_SCALE = 1000.0
"""The network sees ``1000 t`` as its timestep (the familiar DDPM range)."""


@dataclass(frozen=True)
class EmbeddedConfig:
    """Everything needed to rebuild an :class:`EmbeddedPrior` before loading its weights."""

    unet: UNetConfig = field(default_factory=UNetConfig)
    """The denoiser (its ``in_channels`` is 3 in pixel space, the latent channels otherwise)."""
    resolution: int = 32
    """Image side in pixels."""
    autoencoder: AutoencoderConfig | None = None
    """The first stage of a latent prior; ``None`` for a pixel prior."""


class EmbeddedPrior(nn.Module):
    """A :class:`~text2d3.priors.base.DiffusionPrior` over the procedural-object vocabulary."""

    prediction: Prediction = "v"

    def __init__(self, config: EmbeddedConfig) -> None:
        super().__init__()
        self.config = config
        e = config.unet.embed_dim
        self.unet = UNet(config.unet)
        # Index len(vocabulary) of each table is the null (unconditional) token.
        self.colour_embedding = nn.Embedding(len(COLOUR_NAMES) + 1, e)
        self.shape_embedding = nn.Embedding(len(SHAPES) + 1, e)
        self.autoencoder = None if config.autoencoder is None else Autoencoder(config.autoencoder)
        self.schedule = VPCosine()
        self.resolution = config.resolution
        self.channels = config.unet.in_channels
        self.downsample = 1 if self.autoencoder is None else self.autoencoder.downsample
        self.meta: dict = {}
        """Facts recorded by the training run (steps, wall time, data), from the weights file."""

    @staticmethod
    def null_tokens(n: int) -> Int[Tensor, "B 2"]:
        """``n`` rows of the unconditional (colour, shape) tokens."""
        return torch.tensor([[len(COLOUR_NAMES), len(SHAPES)]]).repeat(n, 1)

    @staticmethod
    def tokens(prompts: Sequence[str]) -> Int[Tensor, "B 2"]:
        """(colour, shape) token ids of each prompt; the empty prompt gives the null tokens."""
        rows = []
        for prompt in prompts:
            if not prompt.strip():
                rows.append(EmbeddedPrior.null_tokens(1)[0].tolist())
                continue
            label = parse_prompt(prompt)
            rows.append([label.colour, label.shape])
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), 2)

    @property
    def device(self) -> torch.device:
        return self.colour_embedding.weight.device

    def encode_prompt(
        self, prompts: Sequence[str], negative: Sequence[str] | None = None
    ) -> Conditioning:
        """Token ids ``[B, 2]``; a negative prompt must be empty or a full caption."""
        negative = negative_prompts(prompts, negative)
        return Conditioning(self.tokens(prompts).to(self.device),
                            self.tokens(negative).to(self.device))

    def embed(self, tokens: Int[Tensor, "B 2"]) -> Float[Tensor, "B E"]:
        """The conditioning vector added to the U-Net's time embedding."""
        return self.colour_embedding(tokens[:, 0]) + self.shape_embedding(tokens[:, 1])

    def predict(
        self, x: Float[Tensor, "B C h w"], t: Tensor, embeddings: Int[Tensor, "B 2"]
    ) -> Float[Tensor, "B C h w"]:
        """``v`` at ``(x, t)`` for the given tokens; ``t`` is ``[]`` or ``[B]``."""
        timestep = torch.as_tensor(t, device=x.device).float().expand(x.shape[0])
        out = self.unet(x.float(), TIMESTEP_SCALE * timestep, self.embed(embeddings))
        return out.to(x.dtype)

    def encode(self, images: Float[Tensor, "B H W 3"]) -> Float[Tensor, "B C h w"]:
        x = resize_images(images.to(self.device).float(), self.resolution) * 2 - 1
        return x if self.autoencoder is None else self.autoencoder.encode(x)

    def decode(self, x: Float[Tensor, "B C h w"]) -> Float[Tensor, "B H W 3"]:
        if self.autoencoder is not None:
            x = self.autoencoder.decode(x.float())
        return ((x.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

    # ------------------------------------------------------------------ weights
    def save(self, path: Path, meta: dict | None = None) -> None:
        """Write config, half-precision weights and ``meta`` (training facts) to ``path``."""
        state = {k: v.half() if v.is_floating_point() else v for k, v in self.state_dict().items()}
        config = asdict(self.config)
        torch.save({"format": "splat3d-embedded-prior/1", "config": config, "state_dict": state,
                    "meta": meta or {}}, path)

    @classmethod
    def load(cls, path: Path, device: torch.device | str = "cpu") -> EmbeddedPrior:
        """Rebuild a prior written by :meth:`save` (weights back in float32, eval mode)."""
        blob = read_weights_file(path, "splat3d-embedded-prior/1")
        raw = dict(blob["config"])
        ae = raw.get("autoencoder")
        unet = dict(raw["unet"], channel_mults=tuple(raw["unet"]["channel_mults"]))
        config = EmbeddedConfig(
            unet=UNetConfig(**unet),
            resolution=raw["resolution"],
            autoencoder=None if ae is None else AutoencoderConfig(**ae),
        )
        prior = cls(config)
        prior.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
        prior.meta = blob["meta"]
        return prior.to(device).eval().requires_grad_(False)


def read_weights_file(path: Path, expected_format: str) -> dict:
    """The dict saved at ``path``, checked to carry ``format == expected_format``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: weights file not found; rebuild the embedded weights with "
            "`python -m text2d3.priors.train full`")
    blob = load_tensor_file(path, "prior weights file")
    if not isinstance(blob, dict) or blob.get("format") != expected_format:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path}: expected format {expected_format!r}, found {found!r}")
    return blob


def load_embedded(
    kind: EmbeddedKind = "pixel", *, weights_dir: Path = WEIGHTS_DIR,
    device: torch.device | str = "cpu",
) -> EmbeddedPrior:
    """The committed embedded prior ``"pixel"`` or ``"latent"`` (from ``weights_dir``)."""
    if kind not in ("pixel", "latent"):
        raise ValueError(f"load_embedded: kind must be 'pixel' or 'latent', got {kind!r}")
    return EmbeddedPrior.load(Path(weights_dir) / f"{kind}.pt", device)
