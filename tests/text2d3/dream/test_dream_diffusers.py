"""Proof 4 of issue #7: the DeepFloyd IF -> Stable Diffusion recipe runs end to end on the tiny
random diffusers models of the priors tests (plumbing, shapes, dtypes, view prompts)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers", reason="needs the optional 'diffusion' extra")
pytest.importorskip("transformers", reason="needs the optional 'diffusion' extra")

sys.path.insert(0, str(Path(__file__).parents[1] / "priors"))  # reuse the fixtures, not copies
from test_diffusers_priors import if_folder, sd_folder  # noqa: E402, F401

from configs.dream import DREAM_PRESETS  # noqa: E402
from splat3d.mesh import MeshConfig  # noqa: E402
from text2d3.dream.cameras import CameraConfig  # noqa: E402
from text2d3.dream.guidance import PriorGuide  # noqa: E402
from text2d3.dream.loop import distill  # noqa: E402
from text2d3.dream.recipe import (  # noqa: E402
    dream,
    initial_gaussians,
    load_priors,
    with_priors,
    with_steps,
)


def _config(if_path: Path, sd_path: Path):
    base = with_priors(with_steps(DREAM_PRESETS["stabledreamer"][1], 4), f"if:{if_path}",
                       f"sd:{sd_path}")
    stages = tuple(replace(s, views_per_step=2, cameras=CameraConfig(resolution=16))
                   for s in base.stages)
    return replace(base, stages=stages, num_gaussians=100, progress=False,
                   turntable=replace(base.turntable, size=16),
                   mesh=MeshConfig(resolution=16, iso_level=0.1))


def test_if_then_sd_end_to_end(if_folder: Path, sd_folder: Path, tmp_path: Path) -> None:  # noqa: F811
    config = _config(if_folder, sd_folder)
    priors = load_priors(config)
    seen: dict[str, list[str]] = {}
    for spec, prior in priors.items():
        original = prior.encode_prompt

        def recording(prompts, negative=None, _spec=spec, _original=original):
            seen.setdefault(_spec, []).extend(prompts)
            return _original(prompts, negative)

        prior.encode_prompt = recording
    result = dream(config, "a purple cube", tmp_path / "run", priors=priors)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [s["prior"] for s in metrics["stages"]] == [f"if:{if_folder}", f"sd:{sd_folder}"]
    assert all(torch.isfinite(torch.tensor([s["sds"], s["reg"]])).all()
               for s in metrics["stages"])
    g = result.gaussians
    assert g.means.dtype == torch.float32 and bool(torch.isfinite(g.means).all())
    assert result.turntable.shape == (8, 16, 16, 3)
    assert (tmp_path / "run" / "point_cloud.ply").exists()
    # Open-vocabulary priors get view-dependent prompts.
    for spec in priors:
        assert seen[spec] and all(p.startswith("a purple cube, ") and p.endswith(" view")
                                  for p in seen[spec])


@pytest.mark.parametrize("family", ["if", "sd"])
def test_each_prior_moves_the_gaussians(family: str, if_folder: Path,  # noqa: F811
                                        sd_folder: Path) -> None:  # noqa: F811
    config = _config(if_folder, sd_folder)
    stage = config.stages[0 if family == "if" else 1]
    prior = load_priors(replace(config, stages=(stage,)))[stage.prior]
    init = initial_gaussians(config)
    out = distill(init, [(stage, PriorGuide(prior, stage.guidance))], "a red cube").gaussians
    moved = (out.means - init.means).norm(dim=-1)
    assert bool(torch.isfinite(moved).all()) and float(moved.max()) > 0
    colour_change = (out.sh - init.sh).abs().amax()
    assert float(colour_change) > 0  # gradients reached the colours through encode()
