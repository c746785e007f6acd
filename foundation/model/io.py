"""A potential on disk: ``model.safetensors`` (weights and buffers) + ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unihub.foundation.files import atomic_write
from unihub.foundation.model.config import ModelConfig
from unihub.foundation.model.potential import UniversalPotential

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_potential(model: UniversalPotential, directory: str | Path, extra: dict | None = None) -> Path:
    """Write weights and config into ``directory`` (each file atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    cfg = {"model_type": "universal-painn", "config": model.config.to_dict(), **(extra or {})}
    atomic_write(directory / CONFIG, lambda p: Path(p).write_text(json.dumps(cfg, indent=2)))
    return directory


def load_potential(directory: str | Path, dtype: torch.dtype | None = None, cls: type = UniversalPotential):
    """Rebuild a potential (as ``cls``) from ``directory``; weights are read with safetensors, never unpickled."""
    directory = Path(directory)
    cfg = json.loads((directory / CONFIG).read_text())
    model = cls(ModelConfig.from_dict(cfg["config"]))
    state = load_file(str(directory / WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{directory / WEIGHTS} does not match its config: missing {missing}, unexpected {unexpected}")
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


