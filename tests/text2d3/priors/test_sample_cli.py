"""``splat3d sample``: output paths stay beside ``--out`` and bad flags fail before any model
is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from text2d3.priors.cli import output_paths, sample_image


def test_indexed_outputs_stay_beside_out(tmp_path: Path) -> None:
    out = tmp_path / "a" / "cube.png"
    assert output_paths(out, 1) == [out]
    assert output_paths(out, 3) == [tmp_path / "a" / f"cube_{i}.png" for i in range(3)]


@pytest.mark.parametrize(("out", "num", "message"), [
    ("x.png", 0, "--num 0: expected at least 1"),
    ("x.png", -5, "--num -5"),
    (".", 2, "expected an image file path"),
    ("x", 1, "unknown image suffix ''"),
    ("x.notanimage", 2, "unknown image suffix '.notanimage'"),
])
def test_bad_outputs_are_refused(tmp_path: Path, out: str, num: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        output_paths(Path(out), num)


def test_an_existing_folder_is_not_an_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected an image file path"):
        output_paths(tmp_path, 1)


@pytest.mark.parametrize(("flags", "message"), [
    ({"size": 100_000}, "--size 100000: expected 1 to 8192"),
    ({"size": 0}, "--size 0"),
    ({"guidance": float("nan")}, "--guidance nan"),
])
def test_bad_flags_fail_before_sampling(tmp_path: Path, flags: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_image("a red cube", tmp_path / "x.png", prior="sd:/nonexistent", **flags)
    assert list(tmp_path.iterdir()) == []
