"""What every model kind the hub serves shares, below the stages that make and serve them.

Every kind answers ``calculator``, ``predict``, ``save`` and ``push_to_hub`` (matgl-style IO mixin):
the universal graph potential (and its fine-tuned copies) and the MTP student. ``finetune`` makes
them, the zoo names and loads them, ``eval`` judges them; all three import them from here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi
from torch import nn

from unihub.foundation.card import read_card, write_card
from unihub.foundation.files import atomic_write, write_manifest
from unihub.foundation.graph import as_ase_list
from unihub.foundation.model.io import CONFIG, WEIGHTS, load_potential, save_potential
from unihub.foundation.model.potential import UniversalPotential

STUDENT_FILE = "student.mtp"


def publish(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None,
            commit_message: str = "Upload unihub model", api=None) -> str:
    """Create (or reuse) ``repo_id`` on the Hugging Face Hub and upload ``folder``; the commit URL or repo URL."""
    api = api or HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                             repo_type="model")
    return str(getattr(info, "commit_url", info))


class HubMixin:
    """Saving and publishing, shared by all model kinds."""

    card: dict

    def _write_files(self, directory: Path) -> list[str]:  # pragma: no cover - per kind
        raise NotImplementedError

    def save(self, directory: str | Path, card: dict | None = None) -> Path:
        """Write the model folder: weights, config, model card, ``checksums.json``."""
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
        save_potential(self, directory, extra={"name": self.name, **getattr(self, "extra_config", {})})
        return [WEIGHTS, CONFIG]

    @classmethod
    def load_dir(cls, directory: Path, dtype=None) -> UniversalModel:
        """The model of a folder written by :meth:`save` (weights, config and, if present, its card)."""
        model = load_potential(directory, dtype=dtype, cls=cls)
        cfg = json.loads((directory / CONFIG).read_text())
        model.name = cfg.get("name", directory.name)
        model.extra_config = {k: v for k, v in cfg.items() if k not in ("model_type", "config", "name")}
        card_path = directory / "README.md"
        if card_path.exists():
            model.card = read_card(card_path)
        return model


class StudentModel(nn.Module, HubMixin):
    """A Moment Tensor Potential (``mtp``: ``unihub.finetune.mtp.MTPModel``) with the same face as every hub model;
    what only an MTP has (``mtp.elements``, ``mtp.cutoff``) is read from ``mtp``."""

    def __init__(self, mtp, name: str = "", card: dict | None = None, source: Path | None = None) -> None:
        super().__init__()
        self.mtp, self.name, self.card, self._source = mtp, name, card or {}, source

    def digest_items(self) -> dict:
        """What pins this student (its MTP parameters): an MTP has no torch state for ``state_digest`` to hash."""
        core = self.mtp.core
        return {**{k: v for k, v in sorted(vars(self.mtp.params).items())},
                **({} if core is None else {"core_r_in": core.r_in, "core_r_out": core.r_out})}

    def calculator(self, head: str | None = None, **kwargs):
        """ASE calculator; ``head`` is accepted for a uniform interface (a student has one)."""
        return self.mtp.calculator(**kwargs)

    def predict(self, structures, head: str | None = None, **kwargs) -> list[dict]:
        return self.mtp.predict(as_ase_list(structures), **kwargs)

    def _write_files(self, directory: Path) -> list[str]:
        written = self.mtp.save(directory / STUDENT_FILE)  # atomic; with a repulsive core, its table beside it
        cfg = {"model_type": "mtp", "file": STUDENT_FILE, "elements": self.mtp.elements, "name": self.name}
        atomic_write(directory / "config.json", lambda p: Path(p).write_text(json.dumps(cfg, indent=2)))
        return [*(p.name for p in written), "config.json"]
