"""What the hub serves: every model kind answers ``calculator``, ``predict``, ``save``, ``push_to_hub``."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from unihub.foundation.errors import InputError
from unihub.foundation.model.potential import UniversalPotential
from unihub.zoo.checksum import write_manifest


class HubMixin:
    """Saving and publishing, shared by all model kinds (matgl-style IO mixin)."""

    card: dict

    def _write_files(self, directory: Path) -> list[str]:  # pragma: no cover - per kind
        raise NotImplementedError

    def save(self, directory: str | Path, card: dict | None = None) -> Path:
        """Write the model folder: weights, config, model card, ``checksums.json``."""
        from unihub.zoo.card import write_card

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        names = self._write_files(directory)
        meta = {**getattr(self, "card", {}), **(card or {})}
        write_card(directory, meta)
        write_manifest(directory, names + ["README.md"])
        return directory

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None,
                    card: dict | None = None, api=None) -> str:
        """Save into a temporary folder and upload it to ``repo_id`` on the Hugging Face Hub."""
        from unihub.zoo.hub import publish

        tmp = Path(tempfile.mkdtemp(prefix="unihub-push-"))
        try:
            self.save(tmp, card=card)
            return publish(tmp, repo_id, private=private, token=token, api=api)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class UniversalModel(UniversalPotential, HubMixin):
    """A universal (or fine-tuned) graph potential as served by the hub."""

    card: dict = {}
    name: str = ""

    def _write_files(self, directory: Path) -> list[str]:
        from unihub.foundation.model.io import CONFIG, WEIGHTS, save_potential

        save_potential(self, directory, extra={"name": self.name, **getattr(self, "extra_config", {})})
        return [WEIGHTS, CONFIG]

    @classmethod
    def load_dir(cls, directory: Path, dtype=None) -> UniversalModel:
        from unihub.foundation.model.io import CONFIG, load_potential

        model = load_potential(directory, dtype=dtype, cls=cls)
        cfg = json.loads((directory / CONFIG).read_text())
        model.name = cfg.get("name", directory.name)
        model.extra_config = {k: v for k, v in cfg.items() if k not in ("model_type", "config", "name")}
        card_path = directory / "README.md"
        if card_path.exists():
            from unihub.zoo.card import read_card

            model.card = read_card(card_path)
        return model


def model_kind(directory_or_file: Path) -> str:
    """The kind of a model folder/file: ``universal`` (safetensors + config) or ``mtp`` (a ``.mtp`` file)."""
    from unihub.foundation.model.io import PICKLE_SUFFIXES, pickle_refusal, read_config

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
