"""Pretraining with PyTorch Lightning: a thin module, a datamodule, and a run driver."""

from foundation.training.config import TrainConfig
from foundation.training.run import train

__all__ = ["TrainConfig", "train"]
