"""Matbench-discovery homonuclear dimer curves: ``{functional: {"X-X": {distances, energies, forces, ...}}}``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unihub.foundation.errors import InputError

from ..frame import Frame
from ._common import load_json, to_numbers

_FIDELITY = {"PBE": "pbe", "r2SCAN": "r2scan"}


def read_diatomics(path: Path, options: Mapping[str, Any]) -> Iterator[Frame]:
    """One frame per curve point: the dimer along x, centred in the periodic cubic box.

    The file stores no geometry; its readme says the cells were 15 Å cubes, and the stored forces
    point along x with atom 1 on the +x side (F1 = -dE/dr). Forces are projected onto the bond
    axis: the perpendicular parts (<= 0.013 eV/Å) are SCF noise that symmetry forbids; the
    largest dropped part is kept in ``info['perp_force']``.
    Options: ``box`` (Å, default 15), ``fidelity_by_functional``.
    """
    box = float(options.get("box", 15.0))
    fidelities = {**_FIDELITY, **options.get("fidelity_by_functional", {})}
    axis = np.array([1.0, 0.0, 0.0])
    cell = np.eye(3) * box
    for functional, curves in load_json(path).items():
        if functional not in fidelities:
            raise InputError(f"{path}: unknown functional {functional!r}; map it in fidelity_by_functional")
        for name, curve in curves.items():
            symbols = name.split("-")
            numbers = to_numbers(symbols)
            forces = curve.get("forces") or [None] * len(curve["distances"])
            magmoms = curve.get("magmoms") or [None] * len(curve["distances"])
            spins = curve.get("spin_candidates") or [None] * len(curve["distances"])
            for k, (r, e) in enumerate(zip(curve["distances"], curve["energies"], strict=True)):
                centre = np.full(3, box / 2)
                positions = np.stack([centre - axis * r / 2, centre + axis * r / 2])
                info = {"distance": r, "spin_candidate": spins[k], "magmoms": magmoms[k]}
                f = None
                if forces[k] is not None:
                    raw = np.asarray(forces[k], dtype=float)
                    f = np.outer(raw @ axis, axis)
                    info["perp_force"] = float(np.abs(raw - f).max())
                yield Frame(numbers, positions, cell, True, energy=e, forces=f,
                            fidelity=fidelities[functional], dataset=options.get("dataset", ""),
                            group=f"{functional}/{name}", info=info)
