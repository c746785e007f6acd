"""What the hub serves: the model kinds (defined in ``unihub.foundation.served``) and how to tell a folder's kind."""

from __future__ import annotations

from pathlib import Path

from unihub.foundation.errors import InputError
from unihub.foundation.model.io import PICKLE_SUFFIXES, pickle_refusal, read_config
from unihub.foundation.served import HubMixin, StudentModel, UniversalModel

__all__ = ["HubMixin", "StudentModel", "UniversalModel", "model_kind"]  # the kinds the zoo serves


def model_kind(directory_or_file: Path) -> str:
    """The kind of a model folder/file: ``universal`` (safetensors + config) or ``mtp`` (a ``.mtp`` file)."""
    p = Path(directory_or_file)
    if p.is_file() and p.suffix == ".mtp":
        return "mtp"
    if p.is_dir() and any(p.glob("*.mtp")) and not (p / "config.json").exists():
        return "mtp"
    if p.is_dir() and (p / "config.json").exists():
        model_type = read_config(p / "config.json").get("model_type", "")
        if model_type == "universal-painn":
            return "universal"
        if model_type == "mtp":
            return "mtp"
        raise InputError(f"{p}/config.json has unknown model_type {model_type!r}; unihub loads 'universal-painn' "
                         "and 'mtp'")
    pickles = [p] if p.is_file() else sorted(p.glob("*")) if p.is_dir() else []
    pickles = [f for f in pickles if f.suffix in PICKLE_SUFFIXES]
    if pickles:
        raise InputError(pickle_refusal(pickles[0]))
    raise InputError(f"{p} is not a unihub model: expected a folder with config.json + model.safetensors, "
                     "or an MLIP .mtp file")
