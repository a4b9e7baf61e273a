"""Property-based tests of the transforms.json reader on hostile files.

The only allowed outcomes are cameras or a ``ValueError`` / ``OSError`` whose one-line
message names the file: never a ``ZeroDivisionError``, ``OverflowError``, ``RecursionError``
or allocation failure. Budgets are fixed and derandomised, so CI runs the same cases.
"""

import json
import math
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scene_fixtures import orbit_c2w_opengl

from splat3d.data import read_transforms_cameras

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = ["fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "k1", "k2",
        "p1", "p2", "k3", "k4", "camera_model", "file_path", "transform_matrix", "frames"]
ODD_NUMBERS = st.sampled_from([0, -1, 0.0, math.pi, 4.0, 1e-300, 1e300, 10**400, 40_000,
                               2**63, math.nan, math.inf, -math.inf, True, None])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | ODD_NUMBERS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                 max_size=5),
    max_leaves=20)


def check_outcome(path: Path) -> None:
    """Read ``path``; a refusal must be a one-line ValueError/OSError naming the file."""
    try:
        cams, names = read_transforms_cameras(path)
    except (ValueError, OSError) as err:
        assert str(path) in str(err), f"error does not name the file: {err!r}"
        assert "\n" not in str(err), f"error is not one line: {err!r}"
        return
    # whatever is accepted is a usable camera set
    assert len(cams) == len(names) > 0
    assert torch.isfinite(cams.K).all() and torch.isfinite(cams.world_to_cam).all()
    assert 0 < cams.width <= 32768 and 0 < cams.height <= 32768


def valid_meta() -> dict:
    frames = [{"file_path": f"images/f{i}.png", "transform_matrix": m.tolist()}
              for i, m in enumerate(orbit_c2w_opengl(3))]
    return {"camera_angle_x": 0.8, "w": 16, "h": 12, "frames": frames}


@st.composite
def mutated_meta(draw) -> dict:
    """A valid file with a few keys (global, per frame, or matrix entries) replaced."""
    meta = valid_meta()
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(["top", "frame", "matrix"]))
        value = draw(st.one_of(ODD_NUMBERS, JSON_VALUES))
        if target == "top":
            meta[draw(st.sampled_from(KEYS))] = value
        elif target == "frame" and isinstance(meta.get("frames"), list) and meta["frames"]:
            frame = meta["frames"][draw(st.integers(0, len(meta["frames"]) - 1))]
            if isinstance(frame, dict):
                frame[draw(st.sampled_from(KEYS))] = value
        elif isinstance(meta.get("frames"), list) and meta["frames"] and isinstance(
                meta["frames"][0], dict) and isinstance(meta["frames"][0].get(
                    "transform_matrix"), list):
            matrix = meta["frames"][0]["transform_matrix"]
            row = draw(st.integers(0, 3))
            if row < len(matrix) and isinstance(matrix[row], list) and matrix[row]:
                matrix[row][draw(st.integers(0, len(matrix[row]) - 1))] = value
    return meta


@given(meta=mutated_meta())
@FUZZ
def test_mutated_valid_files(tmp_path, meta):
    path = tmp_path / "transforms.json"
    path.write_text(json.dumps(meta))
    check_outcome(path)


@given(value=JSON_VALUES)
@FUZZ
def test_random_json_structures(tmp_path, value):
    path = tmp_path / "transforms.json"
    path.write_text(json.dumps(value))
    check_outcome(path)


@given(text=st.one_of(st.text(max_size=40), st.integers(1, 200_000).map(
    lambda depth: '{"frames": ' + "[" * depth)))
@FUZZ
def test_random_text(tmp_path, text):
    path = tmp_path / "transforms.json"
    path.write_text(text)
    check_outcome(path)
