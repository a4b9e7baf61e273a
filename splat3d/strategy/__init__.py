"""Densification policies (adaptive density control) kept apart from the model and trainer."""

from splat3d.strategy.base import Strategy
from splat3d.strategy.default import DefaultStrategy

__all__ = ["DefaultStrategy", "Strategy"]
