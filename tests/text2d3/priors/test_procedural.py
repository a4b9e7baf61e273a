"""Procedural objects, prompt parsing and multi-view renders."""

from __future__ import annotations

import pytest
import torch

from text2d3.procedural import (
    BACKGROUND,
    COLOUR_NAMES,
    COLOURS,
    SHAPES,
    ObjectLabel,
    all_labels,
    make_object,
    parse_prompt,
    random_cameras,
    render_views,
)


@pytest.mark.parametrize(("prompt", "colour", "shape"), [
    ("a red cube", "red", "cube"),
    ("A Blue Torus.", "blue", "torus"),
    ("two green spheres", None, None),
    ("a photo of a violet ball", "purple", "sphere"),
    ("yellow pyramid", "yellow", "cone"),
    ("an orange cylinder", "orange", "cylinder"),
])
def test_parse_prompt(prompt: str, colour: str | None, shape: str | None) -> None:
    if colour is None:
        with pytest.raises(ValueError, match="unknown word 'two'"):
            parse_prompt(prompt)
        return
    assert parse_prompt(prompt) == ObjectLabel(COLOUR_NAMES.index(colour), SHAPES.index(shape))


@pytest.mark.parametrize("prompt", ["a red", "a cube", "a red blue cube", "a dog"])
def test_parse_prompt_errors_list_the_vocabulary(prompt: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_prompt(prompt)
    assert all(word in str(err.value) for word in (*COLOUR_NAMES, *SHAPES))


def test_labels_round_trip_through_captions() -> None:
    labels = all_labels()
    assert len(labels) == len(COLOUR_NAMES) * len(SHAPES) == 30
    assert [lab.index for lab in labels] == list(range(30))
    assert all(parse_prompt(lab.caption) == lab for lab in labels)


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_renders_show_a_centred_object_of_the_right_colour(shape: int) -> None:
    colour = shape % len(COLOUR_NAMES)
    views = render_views(make_object(ObjectLabel(colour, shape), seed=3, num_points=300),
                         random_cameras(3, 24, seed=4))
    assert views.shape == (3, 24, 24, 3)
    assert float(views.min()) >= 0 and float(views.max()) <= 1
    background = torch.tensor(BACKGROUND)
    fg = (views - background).abs().sum(-1) > 0.15  # [3, 24, 24]
    assert 0.05 < fg.float().mean() < 0.7
    border = torch.cat([fg[:, 0], fg[:, -1], fg[:, :, 0], fg[:, :, -1]], dim=-1)
    assert border.float().mean() < 0.05  # the object sits inside the frame
    # The mean hue of the solid interior (edges blend with the background) is nearest to the
    # object's own colour: shading only darkens.
    solid = (views - background).abs().sum(-1) > 0.8
    mean = torch.nn.functional.normalize(views[solid].mean(0), dim=0)
    table = torch.nn.functional.normalize(torch.tensor(list(COLOURS.values())), dim=-1)
    assert int((table @ mean).argmax()) == colour


def test_objects_are_seeded() -> None:
    a = make_object(ObjectLabel(1, 2), seed=7).means
    torch.testing.assert_close(a, make_object(ObjectLabel(1, 2), seed=7).means)
    assert not torch.allclose(a, make_object(ObjectLabel(1, 2), seed=8).means)
