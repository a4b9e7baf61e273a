"""ODE solvers for diffusion and flow-matching models, and their exact Gaussian-mixture testbed.

Entry point: :func:`sample` with a method from :data:`METHODS`; see :mod:`.sample` for the table
of methods, papers, NFE and orders.
"""

from text2d3.solvers.grids import GRID_KINDS, explicit_grid, time_grid
from text2d3.solvers.model import (
    PREDICTIONS,
    Denoised,
    Denoiser,
    DynamicThreshold,
    classifier_free_guidance,
)
from text2d3.solvers.sample import METHODS, sample
from text2d3.solvers.schedules import (
    VE,
    NoiseSchedule,
    RectifiedFlow,
    VPCosine,
    VPDiscrete,
    VPLinear,
)
from text2d3.solvers.timeshift import TimeShift, time_shifted

__all__ = [
    "GRID_KINDS",
    "METHODS",
    "PREDICTIONS",
    "VE",
    "Denoised",
    "Denoiser",
    "DynamicThreshold",
    "NoiseSchedule",
    "RectifiedFlow",
    "TimeShift",
    "VPCosine",
    "VPDiscrete",
    "VPLinear",
    "classifier_free_guidance",
    "explicit_grid",
    "sample",
    "time_grid",
    "time_shifted",
]
