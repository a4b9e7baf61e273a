"""Publishing training progress to a viewer nobody watches renders and uploads nothing.

Its cost is measured, not asserted (tests never assert wall-clock times): run
``python -m pytest -q -s tests/viewer/test_update_cost.py`` to see the table; the figures are
recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

pytest.importorskip("viser", reason="viewer tests need viser (pip install 'splat3d[viewer]')")

from splat3d import Cameras, Gaussians, rasterize  # noqa: E402
from viewer import SceneState, Viewer, ViewerConfig  # noqa: E402
from viewer.web_viewer import SPLAT_NODE  # noqa: E402


def median_seconds(fn, repeats: int, inner: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def test_update_without_browser_renders_and_uploads_nothing():
    gaussians = Gaussians.random_sphere(20_000, opacity=0.5)
    renders = []

    def counting_render_fn(cameras, options):
        renders.append(1)
        raise AssertionError("no browser is connected; nothing may render")

    viewer = Viewer(SceneState(gaussians), ViewerConfig(port=0, poll_seconds=0.01,
                                                        splat_push_seconds=0.0),
                    render_fn=counting_render_fn)
    try:
        pushed = viewer._splat_version
        step = iter(range(10**9))
        update_s = median_seconds(
            lambda: viewer.update(gaussians, step=next(step),
                                  metrics={"loss": 0.1, "psnr": 25.0}), repeats=7, inner=500)
        time.sleep(0.1)  # ten polls of the sync thread
        assert renders == [] and viewer._splat_version == pushed, "no render, no upload"
        assert viewer.server.scene._handle_from_node_name[SPLAT_NODE] is not None
    finally:
        viewer.close()

    cameras = Cameras.from_look_at(torch.tensor([[0.0, -3.0, 0.5]]), torch.zeros(1, 3),
                                   fov_x=0.9, width=64, height=48)
    small = gaussians[:1000]
    render_s = median_seconds(lambda: rasterize(small, cameras), repeats=3, inner=1)
    print(f"\n| operation (no browser connected)          | median      |\n"
          f"|-------------------------------------------|-------------|\n"
          f"| viewer.update(20k Gaussians, step, metrics) | {update_s * 1e6:8.1f} us |\n"
          f"| rasterize 1k Gaussians at 64x48           | {render_s * 1e6:8.1f} us |\n"
          f"| ratio                                     | {update_s / render_s:11.5f} |")
