"""The trainer's monitor hook (what the live web viewer plugs into)."""

from __future__ import annotations

from splat3d.train import train
from splat3d.train.trainer import LOG_EVERY
from tests.splat3d.train.conftest import tiny_config


class RecordingMonitor:
    def __init__(self) -> None:
        self.updates: list[tuple[int, int, dict]] = []
        self.waits = 0

    def update(self, gaussians, *, step, metrics):
        self.updates.append((step, len(gaussians), metrics))

    def wait_while_paused(self, stop=None):
        self.waits += 1


def test_monitor_sees_progress_and_is_asked_before_every_step(tiny_scene, tmp_path):
    monitor = RecordingMonitor()
    train(tiny_config(tmp_path / "run", steps=2 * LOG_EVERY), dataset=tiny_scene, monitor=monitor)
    assert monitor.waits == 2 * LOG_EVERY
    assert [u[0] for u in monitor.updates] == [LOG_EVERY, 2 * LOG_EVERY]
    assert all(n > 0 and set(m) == {"loss", "psnr"} for _, n, m in monitor.updates)
