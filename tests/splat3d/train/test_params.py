"""Parameter layout, optimiser groups, the means schedule and config round trips."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from configs.train import TRAIN_PRESETS
from splat3d.gaussians import Gaussians
from splat3d.train import LearningRates, TrainConfig
from splat3d.train.config import config_from_dict, config_to_dict
from splat3d.train.outputs import comparison_image
from splat3d.train.params import (
    gaussians_from_params,
    make_optimizer,
    means_lr,
    params_from_gaussians,
)


def test_params_round_trip_and_groups() -> None:
    g = Gaussians.random_box(50, sh_degree=2, seed=1)
    params = params_from_gaussians(g)
    assert params["sh0"].shape == (50, 1, 3) and params["shN"].shape == (50, 8, 3)
    back = gaussians_from_params(params)
    for k, v in g.tensors().items():
        torch.testing.assert_close(back.tensors()[k].detach(), v)
    opt = make_optimizer(params, LearningRates(), scene_scale=2.0)
    rates = {grp["name"]: grp["lr"] for grp in opt.param_groups}
    assert math.isclose(rates["means"], 3.2e-4) and math.isclose(rates["shN"], 2.5e-3 / 20)
    assert opt.defaults["eps"] == 1e-15


def test_means_schedule_is_exponential() -> None:
    lr = LearningRates()
    assert math.isclose(means_lr(0, 1000, lr, 2.0), 3.2e-4)
    assert math.isclose(means_lr(1000, 1000, lr, 2.0), 3.2e-6)
    assert math.isclose(means_lr(500, 1000, lr, 2.0), 3.2e-5)


@pytest.mark.parametrize("name", sorted(TRAIN_PRESETS))
def test_config_round_trip(name: str) -> None:
    cfg = dataclasses.replace(TRAIN_PRESETS[name][1], data=Path("/x"))
    again = config_from_dict(TrainConfig, config_to_dict(cfg))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown config fields"):
        config_from_dict(TrainConfig, {**config_to_dict(cfg), "bogus": 1})


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("threads", "x", "expected int"), ("max_steps", 1.5, "expected int"),
    ("max_steps", True, "expected int"), ("random_background", 1, "expected bool"),
    ("ssim_lambda", "0.2", "expected a number"), ("data", 7, "expected a string"),
    ("mode", "fancy", r"expected one of \['classic', 'antialiased'\]"),
    ("eval_steps", 5, "expected a list"),
])
def test_config_values_of_the_wrong_type_name_the_field(field, value, expected) -> None:
    data = {**config_to_dict(TRAIN_PRESETS["fast"][1]), field: value}
    with pytest.raises(ValueError, match=rf"field '{field}' is .*; {expected}"):
        config_from_dict(TrainConfig, data)


def test_comparison_image_layout() -> None:
    gt, render = torch.zeros(4, 5, 3), torch.full((4, 5, 3), 0.1)
    img = comparison_image(gt, render)
    assert img.shape == (4, 15, 3)
    torch.testing.assert_close(img[:, 10:], torch.full((4, 5, 3), 0.4))
