"""MTP students served by the hub: a ``.mtp`` file (MLIP-2 format) plus an optional card."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from unihub.zoo.models import HubMixin

STUDENT_FILE = "student.mtp"


class StudentModel(nn.Module, HubMixin):
    """A Moment Tensor Potential with the same face as every hub model."""

    def __init__(self, mtp, name: str = "", card: dict | None = None, source: Path | None = None) -> None:
        super().__init__()
        self.mtp, self.name, self.card, self._source = mtp, name, card or {}, source

    @property
    def elements(self) -> list[str]:
        return list(self.mtp.elements)

    @property
    def cutoff(self) -> float:
        return float(self.mtp.cutoff)

    def calculator(self, head: str | None = None, **kwargs):
        """ASE calculator; ``head`` is accepted for a uniform interface (a student has one)."""
        return self.mtp.calculator(**kwargs)

    def predict(self, structures, head: str | None = None, **kwargs) -> list[dict]:
        from unihub.foundation.graph import as_ase

        return self.mtp.predict([as_ase(s) for s in structures], **kwargs)

    def _write_files(self, directory: Path) -> list[str]:
        from unihub.foundation.files import atomic_write

        atomic_write(directory / STUDENT_FILE, lambda p: self.mtp.save(p))
        cfg = {"model_type": "mtp", "file": STUDENT_FILE, "elements": self.elements, "name": self.name}
        atomic_write(directory / "config.json", lambda p: Path(p).write_text(json.dumps(cfg, indent=2)))
        return [STUDENT_FILE, "config.json"]


def load_student(path: str | Path, elements: list[str] | None = None) -> StudentModel:
    """A student from a ``.mtp`` file or a student folder; ``elements`` for a file that names none."""
    from unihub.finetune.mtp import MTPModel

    path = Path(path)
    card: dict = {}
    if path.is_dir():
        cfg_path = path / "config.json"
        if cfg_path.exists():
            cfg = json.loads(cfg_path.read_text())
            file, stored, name = path / cfg.get("file", STUDENT_FILE), cfg.get("elements"), cfg.get("name", "")
        else:
            files = sorted(path.glob("*.mtp"))
            file, stored, name = files[0], None, path.name
        if (path / "README.md").exists():
            from unihub.zoo.card import read_card

            card = read_card(path / "README.md")
    else:
        file, stored, name = path, None, path.stem
    if elements is not None:
        if stored is not None and list(stored) != list(elements):
            raise ValueError(f"{path} names elements {list(stored)}, not {list(elements)}")
        stored = list(elements)  # MTPModel.load checks them against the file's own tag
    return StudentModel(MTPModel.load(file, elements=stored), name=name, card=card, source=file)
