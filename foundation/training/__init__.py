"""Pretraining with PyTorch Lightning: a thin module, a datamodule, and a run driver."""

from unihub.foundation.training.config import TrainConfig
from unihub.foundation.training.run import train

__all__ = ["TrainConfig", "train"]
