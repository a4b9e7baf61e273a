"""Per-scene 3D Gaussian Splatting reconstruction (Kerbl et al., 2023): config, trainer,
checkpoints, evaluation and export."""

from splat3d.train.config import InitConfig, LearningRates, TrainConfig
from splat3d.train.run_dir import evaluate_run, export_run
from splat3d.train.trainer import train

__all__ = ["InitConfig", "LearningRates", "TrainConfig", "evaluate_run", "export_run", "train"]
