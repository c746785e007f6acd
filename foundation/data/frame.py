"""The one in-memory record every reader produces: a labelled structure in house units."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One labelled structure.

    Units: positions/cell Å (cell vectors are rows), energy eV total per cell,
    forces eV/Å, stress eV/Å³ with ASE's sign (tension positive) as a 3x3 array.
    Labels that the source lacks are ``None``. ``group`` identifies the structure
    (or trajectory) a frame belongs to, so splits never separate frames of one
    trajectory. ``split`` is set only when the source itself defines one.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    fidelity: str = "pbe"
    dataset: str = ""
    group: str = ""
    split: str | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        n = len(self.numbers)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(n, 3)
        self.cell = np.asarray(self.cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(-1)
        if self.pbc.size == 1:
            self.pbc = np.repeat(self.pbc, 3)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=np.float64).reshape(n, 3)
        if self.stress is not None:
            self.stress = np.asarray(self.stress, dtype=np.float64).reshape(3, 3)
        if self.energy is not None:
            self.energy = float(self.energy)

    def __len__(self) -> int:
        return len(self.numbers)

    def to_atoms(self):
        """An ASE ``Atoms`` carrying the labels as single-point results."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)
        results = {}
        if self.energy is not None:
            results["energy"] = self.energy
        if self.forces is not None:
            results["forces"] = self.forces
        if self.stress is not None:
            results["stress"] = self.stress
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info.update(self.info, fidelity=self.fidelity, dataset=self.dataset, group=self.group)
        return atoms

    @classmethod
    def from_atoms(cls, atoms, **kw) -> Frame:
        """A frame from ASE ``Atoms``; labels come from its calculator results if any."""
        energy = forces = stress = None
        calc = atoms.calc
        if calc is not None and getattr(calc, "results", None):
            res = calc.results
            energy = res.get("energy")
            forces = res.get("forces")
            s = res.get("stress")
            if s is not None:
                s = np.asarray(s, dtype=float)
                stress = voigt6_to_3x3(s) if s.size == 6 else s.reshape(3, 3)
        kw.setdefault("energy", energy)
        kw.setdefault("forces", forces)
        kw.setdefault("stress", stress)
        return cls(atoms.numbers, atoms.positions, np.asarray(atoms.cell), atoms.pbc, **kw)


def voigt6_to_3x3(s, order: str = "xx yy zz yz xz xy") -> np.ndarray:
    """Symmetric 3x3 from six components in the named order (ASE's by default)."""
    idx = {"xx": (0, 0), "yy": (1, 1), "zz": (2, 2), "yz": (1, 2), "zy": (1, 2), "xz": (0, 2),
           "zx": (0, 2), "xy": (0, 1), "yx": (0, 1)}
    out = np.zeros((3, 3))
    for v, key in zip(np.asarray(s, dtype=float).reshape(6), order.split()):
        i, j = idx[key]
        out[i, j] = out[j, i] = v
    return out
