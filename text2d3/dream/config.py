"""Configuration of a text-to-3D run: one :class:`StageConfig` per distillation stage, wrapped
in a :class:`DreamConfig`. Named presets live in ``configs/dream.py``.

StableDreamer (Guo et al. 2023) runs two stages on the same Gaussians: an image-space prior
(DeepFloyd IF stage I, or the embedded pixel prior) settles geometry, then a latent-space prior
(Stable Diffusion, or the embedded latent prior) refines colour and detail. The ``role`` of a
stage says which command-line flag (``--image-prior`` / ``--latent-prior``) may replace its prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from splat3d.mesh import MeshConfig
from splat3d.rasterize import Backend
from splat3d.strategy import DefaultStrategy
from splat3d.train.config import LearningRates
from splat3d.turntable import TurntableConfig
from text2d3.dream.annealing import Annealing, UniformTime
from text2d3.dream.background import BackgroundConfig
from text2d3.dream.cameras import CameraConfig
from text2d3.dream.regularizers import RegularizerConfig
from text2d3.dream.sds import WEIGHTINGS, Weighting
from text2d3.procedural import BACKGROUND
from text2d3.solvers import METHODS


def dream_learning_rates() -> LearningRates:
    """Adam rates for distillation: colours and positions move faster than in
    reconstruction (the SDS signal is noisy and the object starts from random colours),
    as in DreamGaussian (Tang et al. 2024)."""
    return LearningRates(means=1e-3, means_final_factor=0.05, log_scales=5e-3, quats=5e-3,
                         opacity_logits=5e-2, sh0=2e-2, shN=1e-3)


@dataclass(frozen=True)
class StageConfig:
    """One distillation stage: a prior, its guidance, the noise schedule and the optimiser."""

    name: str = "stage"
    """Label in the progress bar, the history and ``metrics.json``."""
    role: Literal["image", "latent"] = "image"
    """Which prior flag overrides :attr:`prior` (``--image-prior`` or ``--latent-prior``)."""
    prior: str = "embedded"
    """Prior spec for :func:`text2d3.priors.load.load_prior`: ``embedded``,
    ``embedded-latent``, ``sd:PATH`` or ``if:PATH``."""
    steps: int = 1000
    """Optimisation steps of this stage."""
    guidance: float = 7.5
    """Classifier-free guidance scale (SDS wants large values: DreamFusion used 100 with
    Imagen; the embedded priors work with about 10-30)."""
    negative_prompt: str = ""
    """Unconditional-branch prompt (empty: unconditional)."""
    weighting: Weighting = "sigma2"
    """SDS weighting ``w(t)``: ``uniform``, ``sigma2`` (``1 - abar``) or ``snr`` (see
    :mod:`text2d3.dream.sds`)."""
    annealing: Annealing = field(default_factory=UniformTime)
    """Diffusion-time schedule (:mod:`text2d3.dream.annealing`)."""
    target_steps: int = 1
    """``1``: regress onto the one-step ``x0_hat`` (plain SDS); ``k > 1``: onto ``x_t``
    denoised by ``k`` solver steps (about ``k`` times the prior cost; all views of a step then
    share one ``t``)."""
    target_method: str = "dpmpp2m"
    """Solver of the k-step target (a key of :data:`text2d3.solvers.METHODS`)."""
    views_per_step: int = 4
    """Cameras rendered and scored per step."""
    cameras: CameraConfig = field(default_factory=CameraConfig)
    """Camera sampler ranges and image size."""
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    """Background behind the renders."""
    lr: LearningRates = field(default_factory=dream_learning_rates)
    """Adam learning rates (the means rate decays within the stage)."""
    strategy: DefaultStrategy | None = None
    """Densify/prune policy driven as the trainer drives it (None: fixed set of Gaussians)."""
    regularizers: RegularizerConfig = field(default_factory=RegularizerConfig)
    """Opacity and scale penalties."""
    grad_clip: float = 1.0
    """Clip the global gradient norm of the Gaussians' parameters to this (0: no clipping)."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"StageConfig.steps of stage {self.name!r} must be >= 1, "
                             f"got {self.steps}")
        if self.views_per_step < 1:
            raise ValueError(f"StageConfig.views_per_step must be >= 1, got {self.views_per_step}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"StageConfig.weighting must be one of {WEIGHTINGS}, "
                             f"got {self.weighting!r}")
        if self.target_steps < 1:
            raise ValueError(f"StageConfig.target_steps must be >= 1, got {self.target_steps}")
        if self.target_method not in METHODS:
            raise ValueError(f"StageConfig.target_method must be one of {sorted(METHODS)}, "
                             f"got {self.target_method!r}")
        if self.role not in ("image", "latent"):
            raise ValueError(f"StageConfig.role must be 'image' or 'latent', got {self.role!r}")
        if self.grad_clip < 0:
            raise ValueError(f"StageConfig.grad_clip must be >= 0, got {self.grad_clip}")


@dataclass(frozen=True)
class DreamConfig:
    """A text-to-3D run: initial Gaussians, the stages in order, and run-wide settings."""

    stages: tuple[StageConfig, ...] = (StageConfig(),)
    """Distillation stages, run in order on the same Gaussians."""
    num_gaussians: int = 1000
    """Gaussians placed uniformly in a ball at the start (ignored with seed points)."""
    init_radius: float = 0.6
    """Radius of that ball (world units; the embedded objects fit in about 0.8)."""
    init_opacity: float = 0.3
    """Initial opacity of every Gaussian."""
    init_colour: tuple[float, float, float] | None = None
    """Colour of every initial Gaussian in the ball (None: random colours)."""
    init_scale_factor: float = 1.0
    """Initial scales are this times the mean distance to the 3 nearest neighbours."""
    sh_degree: int = 0
    """SH degree of the colours (0: view-independent, as the embedded objects are)."""
    seed: int = 0
    """Seed of the initialisation, cameras, times, noise and backgrounds."""
    backend: Backend = "auto"
    """Rasterizer backend."""
    device: str = "cpu"
    """Torch device of the Gaussians and the priors."""
    threads: int | None = 1
    """Torch CPU threads during the run (None: leave torch's setting)."""
    progress: bool = True
    """Show the progress bar."""
    log_every: int = 10
    """Steps between history entries, progress refreshes and monitor updates."""
    turntable: TurntableConfig = field(default_factory=lambda: TurntableConfig(
        views=8, radius=3.0, elevation_deg=20.0, fov_deg=42.97, size=128, background=BACKGROUND,
        columns=4))
    """Orbit renders written to the run folder; the embedded classifier's prompt accuracy is
    measured on them (default: 8 views at the embedded priors' camera distance and field of
    view, over their grey background)."""
    mesh: MeshConfig = field(default_factory=lambda: MeshConfig(resolution=96))
    """Mesh extraction (density grid and marching cubes)."""

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("DreamConfig.stages must name at least one stage")
        if self.num_gaussians < 1:
            raise ValueError(f"DreamConfig.num_gaussians must be >= 1, got {self.num_gaussians}")
        if not 0.0 < self.init_opacity < 1.0:
            raise ValueError(f"DreamConfig.init_opacity must be in (0, 1), "
                             f"got {self.init_opacity}")
        if self.log_every < 1:
            raise ValueError(f"DreamConfig.log_every must be >= 1, got {self.log_every}")

    @property
    def total_steps(self) -> int:
        """Steps over all stages."""
        return sum(s.steps for s in self.stages)
