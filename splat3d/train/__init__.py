"""Per-scene 3D Gaussian Splatting reconstruction (Kerbl et al., 2023): config, trainer,
checkpoints, evaluation and export."""

from splat3d.train.checkpoint import CheckpointError
from splat3d.train.config import InitConfig, LearningRates, TrainConfig
from splat3d.train.faults import NonFiniteError, TrainingInterrupted
from splat3d.train.run_dir import evaluate_run, export_run
from splat3d.train.trainer import train

__all__ = ["CheckpointError", "InitConfig", "LearningRates", "NonFiniteError", "TrainConfig",
           "TrainingInterrupted", "evaluate_run", "export_run", "train"]
