"""Text to 3D by score distillation on 3D Gaussians: StableDreamer's recipe (Guo et al. 2023).

Modules, one concept each: :mod:`.cameras` (camera policy, view prompts), :mod:`.sds` (SDS
gradient and its L2 form, weightings, k-step target), :mod:`.annealing` (diffusion-time
schedules), :mod:`.regularizers`, :mod:`.background`, :mod:`.guidance` (the camera-aware prior
interface), :mod:`.analytic` (an exact prior for tests), :mod:`.config`, :mod:`.loop` (the
distillation loop), :mod:`.recipe` (:func:`dream`: inputs, priors, run folder), :mod:`.cli`.

Example:
    >>> from configs.dream import DREAM_PRESETS
    >>> result = dream(DREAM_PRESETS["stabledreamer"][1], "a red cube")  # doctest: +SKIP
    >>> result.metrics["prompt_accuracy"]["both"]  # doctest: +SKIP
"""

from text2d3.dream.annealing import LinearAnneal, SqrtAnneal, StepAnneal, UniformTime
from text2d3.dream.config import DreamConfig, StageConfig
from text2d3.dream.loop import DistillResult, distill
from text2d3.dream.recipe import DreamResult, dream, with_priors, with_steps

__all__ = [
    "DistillResult",
    "DreamConfig",
    "DreamResult",
    "LinearAnneal",
    "SqrtAnneal",
    "StageConfig",
    "StepAnneal",
    "UniformTime",
    "distill",
    "dream",
    "with_priors",
    "with_steps",
]
