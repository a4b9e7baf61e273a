"""Property-based tests of the COLMAP model reader on mutated and truncated files.

Allowed outcomes: a model, or a ``ValueError`` / ``OSError`` whose one-line message names
the damaged file; never ``struct.error``, ``MemoryError``, ``UnicodeDecodeError`` or a crash.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_colmap import write_model

from splat3d.data.colmap_model import read_colmap_model

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=[True, False], ids=["binary", "text"])
def model_dir(request, tmp_path_factory) -> tuple[Path, bool]:
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    write_model(folder, [(1, "PINHOLE", 32, 24, (30.0, 31.0, 16.0, 12.0)),
                         (2, "OPENCV", 32, 24, (30.0, 31.0, 16.0, 12.0, 0.1, 0, 0, 0))],
                [(5, (1.0, 0, 0, 0), (0, 0, 4.0), 1, "a.png"),
                 (9, (0.0, 1.0, 0, 0), (0, 1, 4.0), 2, "sub/b.png")],
                (rng.normal(size=(4, 3)), rng.integers(0, 256, (4, 3))), binary=request.param)
    return folder, request.param


@given(file=st.sampled_from(["cameras", "images", "points3D"]), edits=st.lists(
    st.tuples(st.sampled_from(["set", "cut", "insert"]), st.floats(0, 1), st.binary(min_size=1,
                                                                                  max_size=8)),
    min_size=1, max_size=3))
@FUZZ
def test_mutated_models(tmp_path, model_dir, file, edits):
    source, binary = model_dir
    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    path = folder / f"{file}.{'bin' if binary else 'txt'}"
    data = bytearray(path.read_bytes())
    for op, where, payload in edits:
        i = min(int(where * len(data)), len(data))
        if op == "set":
            data[i:i + len(payload)] = payload
        elif op == "cut":
            del data[i:]
        else:
            data[i:i] = payload
    path.write_bytes(bytes(data))
    try:
        model = read_colmap_model(folder)
    except (ValueError, OSError) as err:
        assert str(path) in str(err) and "\n" not in str(err), repr(err)
        return
    assert model.points_xyz.shape[1] == 3 and model.points_rgb.dtype == np.uint8
