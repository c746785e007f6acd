"""Fine-tune data at the door: read it (through foundation's readers), fingerprint it, refuse bad input."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from ase.data import chemical_symbols
from ase.units import Bohr, Hartree, Rydberg, kcal, kJ, mol

from unihub.foundation.data import load_card, read_frames
from unihub.foundation.data.frame import Frame

# units that readers do not convert, seen in user files and cards; the value is the fix
_FOREIGN_UNITS = {r"kcal": f"kcal/mol (× {kcal / mol:g} → eV)",
                  r"\bkj": f"kJ/mol (× {kJ / mol:g} → eV)",
                  r"hartree|\bha\b|\bau\b|a\.u\.":
                      f"Hartree atomic units (× {Hartree:g} → eV, × {Hartree / Bohr:g} → eV/Å)",
                  r"\bry": f"Rydberg (× {Rydberg:g} → eV)", r"\bmev": "meV (× 0.001 → eV)",
                  r"bohr": f"Bohr (× {Bohr:g} → Å)"}


def as_frames(data, fidelity: str | None = None, **read_options) -> tuple[list[Frame], str]:
    """Frames from a file path (any format ``read_frames`` knows), ASE ``Atoms`` or ``Frame`` objects,
    and a short description of where they came from."""
    if isinstance(data, (str, Path)):
        opts = dict(read_options)
        if fidelity:
            opts.setdefault("fidelity", fidelity)
        return read_frames(data, **opts), str(data)
    frames = []
    for k, item in enumerate(data):
        if isinstance(item, Frame):
            frames.append(item)
            continue
        info = getattr(item, "info", {})
        frames.append(Frame.from_atoms(item, fidelity=info.get("fidelity", fidelity or "pbe"),
                                       dataset=info.get("dataset", "finetune"), group=str(info.get("group", k)),
                                       split=info.get("split"), info=dict(info)))
    if not frames:
        raise ValueError("no fine-tune frames given")
    return frames, f"{len(frames)} in-memory structures"


def frames_sha256(frames: Sequence[Frame]) -> str:
    """A content hash of labelled frames (numbers, positions, cell, labels), independent of file format."""
    h = hashlib.sha256()
    for f in frames:
        for a in (f.numbers, f.positions, f.cell, f.pbc, f.forces, f.stress):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        h.update(repr(f.energy).encode())
    return h.hexdigest()


def declared_units(card) -> dict:
    """The ``units`` a data card declares: a card name, a path to a card, or a dict of front matter."""
    if card is None:
        return {}
    if isinstance(card, dict):
        return dict(card.get("units") or {})
    path = Path(card)
    if path.exists():
        text = path.read_text()
        front = text.split("---", 2)[1] if text.startswith("---") else text
        return dict((yaml.safe_load(front) or {}).get("units") or {})

    return dict(load_card(str(card)).units or {})


def check_units(units: dict, where: str) -> None:
    """Refuse labels a card declares in units other than eV, Å, eV/Å (readers convert only stress)."""
    for label in ("energy", "forces"):
        text = str(units.get(label, "")).lower()
        for pattern, fix in _FOREIGN_UNITS.items():
            if re.search(pattern, text):
                raise ValueError(f"{where} declares {label} in {units[label]!r}, but fine-tuning needs eV, Å and eV/Å: "
                                 f"convert {fix} before fine-tuning")


def check_frames(frames: Sequence[Frame], model, head_for_elements: int | None = None) -> None:
    """Refuse fine-tune data a model cannot learn from: frames without energies, and elements the base
    model never saw (its embedding for them is untrained)."""
    missing = [k for k, f in enumerate(frames) if f.energy is None]
    if missing:
        raise ValueError(f"{len(missing)} of {len(frames)} fine-tune frames have no energy "
                         f"(first: frame {missing[0]}); "
                         "fine-tuning needs energies to re-fit reference energies and train the energy: "
                         "add the DFT energies or drop those frames")
    seen = model.seen_elements.any(dim=0) if head_for_elements is None else model.seen_elements[head_for_elements]
    present = np.unique(np.concatenate([f.numbers for f in frames]))
    unseen = [chemical_symbols[z] for z in present if not bool(seen[z])]
    if unseen:
        raise ValueError(f"the base model never saw {', '.join(unseen)} in pretraining, so it has nothing to transfer "
                         "for them; train from scratch with these elements in the mix, or pick a base model "
                         "that covers them")
