"""An MTP student as a hub model: a ``.mtp`` file (MLIP-2 format) or a student folder, plus its card."""

from __future__ import annotations

import json
from pathlib import Path

from unihub.foundation.card import read_card
from unihub.foundation.errors import InputError
from unihub.foundation.served import STUDENT_FILE, StudentModel

from .model import MTPModel


def load_student(path: str | Path, elements: list[str] | None = None) -> StudentModel:
    """A student from a ``.mtp`` file or a student folder; ``elements`` for a file that names none."""
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
            card = read_card(path / "README.md")
    else:
        file, stored, name = path, None, path.stem
    if elements is not None:
        if stored is not None and list(stored) != list(elements):
            raise InputError(f"{path} names elements {list(stored)}, not {list(elements)}")
        stored = list(elements)  # MTPModel.load checks them against the file's own tag
    return StudentModel(MTPModel.load(file, elements=stored), name=name, card=card, source=file)
