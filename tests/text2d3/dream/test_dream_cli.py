"""The default ``splat3d dream`` run folder is one folder inside outputs/dream, whatever the
prompt."""

from __future__ import annotations

import pytest

from text2d3.dream.cli import DREAM_ROOT, default_output


@pytest.mark.parametrize(("prompt", "folder"), [
    ("a red cube", "a_red_cube"), ("A  Red\tCube!", "a_red_cube"), ("!!!", "empty"),
    ("...", "empty"), ("", "empty"), ("../../x", "x"), ("/etc/x", "etcx"), ("con", "_con"),
])
def test_default_output_is_one_folder_inside_the_root(prompt: str, folder: str) -> None:
    assert default_output(prompt) == DREAM_ROOT / folder


def test_long_prompts_give_a_valid_folder_name() -> None:
    out = default_output("a red cube " * 40)
    assert out.parent == DREAM_ROOT and len(out.name.encode()) <= 255
