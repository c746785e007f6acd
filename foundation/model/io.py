"""A potential on disk: ``model.safetensors`` (weights and buffers) + ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unihub.foundation.errors import InputError, MissingInputError
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
    cfg = read_config(directory / CONFIG)
    if not isinstance(cfg.get("config"), dict):
        raise InputError(f"{directory / CONFIG} lacks the 'config' mapping of a unihub model; restore it from the "
                         "model's source")
    model = cls(ModelConfig.from_dict(cfg["config"]))
    weights = directory / WEIGHTS
    if not weights.exists():
        pickles = sorted(p.name for p in directory.glob("*") if p.suffix in PICKLE_SUFFIXES)
        raise MissingInputError(f"{weights} is missing" + (f"; {pickle_refusal(directory / pickles[0])}" if pickles
                                                           else "; the folder is incomplete, download it again"))
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own SafetensorError (not a ValueError) on a bad header
        raise InputError(f"{weights} is not a readable safetensors file ({err}); it is truncated or damaged: "
                         "download or save the model again") from err
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{directory / WEIGHTS} does not match its config: missing {missing}, unexpected {unexpected}")
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


def pickle_refusal(path: Path) -> str:
    """Why a pickled checkpoint is refused, and the command that converts a trusted one."""
    return (f"{path} is a pickle, and unihub loads weights only from safetensors (unpickling can run code). "
            f"If you trust it, convert its state dict: python -c \"import torch; from safetensors.torch import "
            f"save_file; save_file(torch.load('{path}', weights_only=True), 'model.safetensors')\" and put "
            "model.safetensors next to the model's config.json")


def read_config(path: Path) -> dict:
    """A model's ``config.json``, or an error naming the file and what is wrong with it."""
    try:
        cfg = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err}); restore it from the model's source") from err
    if not isinstance(cfg, dict):
        raise InputError(f"{path} holds {type(cfg).__name__}, not a JSON object; restore it from the model's source")
    return cfg
