"""The teacher labels of a distillation, kept in the student's folder so nothing the teacher computed is lost.

``labels.extxyz`` holds every labelled configuration (energy, forces, stress; ``info["split"]`` is
``train`` or ``held_out``); ``labels.json`` holds what they were made with and how far the run got.
Both are rewritten atomically after the initial sampling and after every active-learning round, the
json last with the extxyz file's sha256, so a run killed at any point leaves a consistent pair.
``distill(..., resume=True)`` reads them back and skips the sampling and the finished rounds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from unihub.foundation.files import atomic_write, sha256_file

LABELS, STATE = "labels.extxyz", "labels.json"
# what must match for saved labels to be reused by a resumed run
IDENTITY = ("teacher_revision", "head", "elements", "seed")


def _plain_info(info: dict) -> dict:
    """The info entries extxyz can store (numbers, strings, numeric lists); the rest is dropped."""
    out = {}
    for k, v in info.items():
        if isinstance(v, (str, int, float, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, (list, tuple, np.ndarray)) and np.asarray(v).dtype.kind in "if":
            out[k] = np.asarray(v)
    return out


def save_labels(folder: str | os.PathLike, train: Sequence[Atoms], held_out: Sequence[Atoms], state: dict) -> None:
    """Write ``train`` and ``held_out`` (labelled ``Atoms``) and ``state`` (identity, budget, rounds done)."""
    folder = Path(folder)
    rows = []
    for split, frames in (("train", train), ("held_out", held_out)):
        for a in frames:
            b = a.copy()
            b.info = {**_plain_info(a.info), "split": split}
            b.calc = a.calc
            rows.append(b)
    atomic_write(folder / LABELS, lambda p: write(p, rows, format="extxyz"))
    state = {**state, "frames": len(rows), "sha256": sha256_file(folder / LABELS)}
    atomic_write(folder / STATE, lambda p: Path(p).write_text(json.dumps(state, indent=1)))


def load_labels(folder: str | os.PathLike, identity: dict) -> tuple[list[Atoms], list[Atoms], dict] | None:
    """``(train, held_out, state)`` saved in ``folder``, or None when there are none.

    Raises ``ValueError`` when they were made by another teacher, head, element set or seed, or when
    the extxyz file does not match its checksum (it is then left in place for the user to inspect)."""
    folder = Path(folder)
    if not (folder / STATE).exists():
        return None
    state = json.loads((folder / STATE).read_text())
    clash = {k: (state.get(k), identity[k]) for k in IDENTITY if state.get(k) != identity[k]}
    if clash:
        raise ValueError(f"the labels in {folder} were made with a different setup "
                         f"({', '.join(f'{k}: saved {a!r}, asked {b!r}' for k, (a, b) in clash.items())}); "
                         "resume with the same teacher, head, elements and seed, or write to another output")
    got = sha256_file(folder / LABELS) if (folder / LABELS).exists() else None
    if got != state["sha256"]:
        raise ValueError(f"{folder / LABELS} is missing or does not match the checksum in {folder / STATE}; "
                         "it cannot be resumed from: remove both files to start afresh")
    frames = read(folder / LABELS, index=":", format="extxyz")
    train = [a for a in frames if a.info.get("split") == "train"]
    held_out = [a for a in frames if a.info.get("split") == "held_out"]
    for a in frames:
        a.info.pop("split", None)
    return train, held_out, state
