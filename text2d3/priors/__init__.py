"""2D diffusion priors for text-to-3D: one interface, three families.

* :mod:`.base` -- the :class:`DiffusionPrior` protocol, :class:`Conditioning`, classifier-free
  guidance on top of :mod:`text2d3.solvers`, and :func:`generate`.
* :mod:`.embedded` -- the small priors that ship with the package (pixel and latent), trained by
  :mod:`.train` on procedural renders; :mod:`.classifier` judges prompt accuracy.
* :mod:`.stable_diffusion`, :mod:`.deepfloyd_if` -- SD 2.1-base and DeepFloyd IF stage I through
  ``diffusers`` (optional extra ``diffusion``), from local folders only.

:func:`.load.load_prior` maps a spec such as ``"embedded"`` or ``"sd:/models/sd21"`` to a prior.
"""

from text2d3.priors.base import (
    Conditioning,
    DiffusionPrior,
    generate,
    guided_denoised,
    guided_model,
)

__all__ = ["Conditioning", "DiffusionPrior", "generate", "guided_denoised", "guided_model"]
