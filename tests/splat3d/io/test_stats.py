import math

import torch

from splat3d import Gaussians
from splat3d.io import describe_gaussians, first_non_finite, format_description


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def known_gaussians() -> Gaussians:
    means = torch.tensor([[0.0, -1.0, 2.0], [3.0, 1.0, -2.0], [-1.0, 0.5, 0.0], [1.0, 4.0, 1.0]])
    opacity = torch.tensor([logit(0.1), logit(0.9), logit(0.5), logit(0.3)])
    scales = torch.tensor([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [0.01, 0.02, 0.03], [5.0, 4.0, 6.0]])
    return Gaussians(means, torch.randn(4, 4), scales.log(), opacity, torch.zeros(4, 4, 3))


def test_describe_known_scene():
    s = describe_gaussians(known_gaussians())
    assert s["count"] == 4 and s["sh_degree"] == 1
    assert s["bounds_min"] == (-1.0, -1.0, -2.0)
    assert s["bounds_max"] == (3.0, 4.0, 2.0)
    assert math.isclose(s["opacity"]["min"], 0.1, rel_tol=1e-6)
    assert math.isclose(s["opacity"]["median"], (0.3 + 0.5) / 2, rel_tol=1e-6)  # even count
    assert math.isclose(s["opacity"]["max"], 0.9, rel_tol=1e-6)
    # all 12 axis scales pooled; the middle two are 0.3 and 1.0
    assert math.isclose(s["scale"]["min"], 0.01, rel_tol=1e-6)
    assert math.isclose(s["scale"]["median"], (0.3 + 1.0) / 2, rel_tol=1e-6)
    assert math.isclose(s["scale"]["max"], 6.0, rel_tol=1e-6)


def test_describe_empty_scene_has_no_ranges():
    s = describe_gaussians(Gaussians.empty(2))
    assert s == {"count": 0, "sh_degree": 2, "bounds_min": None, "bounds_max": None,
                 "opacity": None, "scale": None}
    assert format_description(s) == "Gaussians    0\nSH degree    2"


def test_format_is_a_plain_text_table():
    text = format_description(describe_gaussians(known_gaussians()), title="scene.ply")
    lines = text.splitlines()
    assert lines[0] == "scene.ply"
    assert lines[1].split() == ["Gaussians", "4"] and lines[2].split() == ["SH", "degree", "1"]
    assert lines[4].split() == ["bounds", "min", "-1", "-1", "-2"]
    assert lines[7].split() == ["opacity", "0.1", "0.4", "0.9"]
    assert lines[8].split() == ["scale", "0.01", "0.65", "6"]
    assert "\x1b" not in text and "[" not in text


def test_count_uses_thousands_separators():
    text = format_description(describe_gaussians(Gaussians.random_box(1234, seed=0)))
    assert text.splitlines()[0].split() == ["Gaussians", "1,234"]


def test_first_non_finite():
    g = known_gaussians()
    assert first_non_finite(g) is None
    g.sh[2, 3, 1] = float("inf")
    assert first_non_finite(g) == ("sh", 2)
    g.log_scales[3, 0] = float("nan")
    assert first_non_finite(g) == ("log_scales", 3)
    assert first_non_finite(Gaussians.empty(3)) is None
