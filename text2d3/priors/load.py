"""Choose a prior from a short spec string (the CLI's ``--prior``), by an explicit table.

===================  ==========================================================
spec                 prior
===================  ==========================================================
``embedded``         the shipped pixel prior (32 x 32, :mod:`.embedded`)
``embedded-latent``  the shipped latent prior (autoencoder + latent U-Net)
``sd:PATH``          Stable Diffusion 2.1-base from the local folder ``PATH``
``if:PATH``          DeepFloyd IF stage I from the local folder ``PATH``
===================  ==========================================================

Example:
    >>> load_prior("embedded").resolution
    32
"""

from __future__ import annotations

import torch

from text2d3.priors.base import DiffusionPrior

PRIOR_SPECS = ("embedded", "embedded-latent", "sd:PATH", "if:PATH")
"""The accepted forms of a prior spec."""


def load_prior(
    spec: str, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> DiffusionPrior:
    """The prior named by ``spec`` (see the module table); ``dtype`` applies to diffusers
    priors (e.g. ``torch.float16`` on a GPU)."""
    if spec in ("embedded", "embedded-latent"):
        from text2d3.priors.embedded import load_embedded

        return load_embedded("pixel" if spec == "embedded" else "latent", device=device)
    family, _, path = spec.partition(":")
    if family == "sd" and path:
        from text2d3.priors.stable_diffusion import load_stable_diffusion

        return load_stable_diffusion(path, device=device, dtype=dtype)
    if family == "if" and path:
        from text2d3.priors.deepfloyd_if import load_deepfloyd_if

        return load_deepfloyd_if(path, device=device, dtype=dtype)
    raise ValueError(f"load_prior: unknown prior {spec!r}; expected one of {PRIOR_SPECS}")
