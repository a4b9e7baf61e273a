"""The scene a viewer shows, shared between a producer (a trainer, a loader) and the viewer.

The producer calls :meth:`SceneState.update` as often as it likes: the call only swaps a few
references under a lock and bumps a version number, so it costs microseconds whether or not a
browser is watching. The viewer's own threads notice the new version and do the expensive work
(uploading splats, re-rendering) only for connected browsers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from jaxtyping import Float
from torch import Tensor

from splat3d.gaussians import Gaussians


@dataclass(frozen=True)
class SceneSnapshot:
    """A consistent view of the scene state at one version."""

    gaussians: Gaussians
    """Current Gaussians (detached; shared with the producer, not copied)."""
    features: Float[Tensor, "N F"] | None
    """Optional per-Gaussian feature channels a server-side render can show."""
    step: int | None
    """Training step, or None outside training."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Latest scalar metrics, e.g. ``{"loss": 0.03, "psnr": 27.1}``."""
    version: int = 0
    """Increases by one on every update."""

    @property
    def num_gaussians(self) -> int:
        return len(self.gaussians)

    @property
    def loss(self) -> float:
        return float(self.metrics.get("loss", math.nan))

    @property
    def psnr(self) -> float:
        return float(self.metrics.get("psnr", math.nan))


class SceneState:
    """Thread-safe current scene plus the paused flag a trainer polls.

    Example:
        >>> state = SceneState(Gaussians.random_box(100))
        >>> state.update(Gaussians.random_box(200), step=10, metrics={"loss": 0.1})
        >>> state.snapshot().num_gaussians, state.snapshot().step, state.paused
        (200, 10, False)
    """

    def __init__(self, gaussians: Gaussians | None = None,
                 features: Float[Tensor, "N F"] | None = None) -> None:
        self._lock = threading.Lock()
        self._snapshot = SceneSnapshot(
            gaussians=(gaussians if gaussians is not None else Gaussians.empty()).detach(),
            features=_checked_features(features, gaussians), step=None)
        self._paused = False

    def update(
        self,
        gaussians: Gaussians | None = None,
        *,
        step: int | None = None,
        metrics: Mapping[str, float] | None = None,
        features: Float[Tensor, "N F"] | None = None,
    ) -> None:
        """Publish new Gaussians and/or training progress. Cheap: no copy, no rendering.

        Args:
            gaussians: the new scene (kept by reference after ``detach()``); None keeps the
                current one.
            step: training step; None keeps the current one.
            metrics: scalar metrics; None keeps the current ones.
            features: per-Gaussian features ``[N, F]`` matching ``gaussians``; dropped when
                the Gaussian count changes without new features.
        """
        with self._lock:
            old = self._snapshot
            new_gaussians = old.gaussians if gaussians is None else gaussians.detach()
            if features is None and old.features is not None \
                    and len(old.features) == len(new_gaussians):
                features = old.features
            self._snapshot = SceneSnapshot(
                gaussians=new_gaussians,
                features=_checked_features(features, new_gaussians),
                step=old.step if step is None else int(step),
                metrics=old.metrics if metrics is None else dict(metrics),
                version=old.version + 1,
            )

    def snapshot(self) -> SceneSnapshot:
        """The current state (immutable; safe to use from any thread)."""
        with self._lock:
            return self._snapshot

    @property
    def version(self) -> int:
        return self._snapshot.version

    @property
    def paused(self) -> bool:
        """Whether the user asked training to pause (the trainer polls this)."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)


def _checked_features(features: Tensor | None, gaussians: Gaussians | None) -> Tensor | None:
    if features is None:
        return None
    n = 0 if gaussians is None else len(gaussians)
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(f"SceneState: features must be [N, F] with N={n} Gaussians, "
                         f"got {tuple(features.shape)}")
    return features.detach()
