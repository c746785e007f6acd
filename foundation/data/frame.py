"""The one in-memory record every reader produces: a labelled structure in house units."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from unihub.foundation.errors import InputError


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
        self.positions = _shaped(self.positions, (n, 3), "positions", n)
        self.cell = _shaped(self.cell, (3, 3), "cell", n)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(-1)
        if self.pbc.size == 1:
            self.pbc = np.repeat(self.pbc, 3)
        if self.forces is not None:
            self.forces = _shaped(self.forces, (n, 3), "forces", n)
        if self.stress is not None:
            self.stress = _shaped(self.stress, (3, 3), "stress", n)
        if self.energy is not None:
            self.energy = float(self.energy)

    def __len__(self) -> int:
        return len(self.numbers)

    def to_atoms(self):
        """An ASE ``Atoms`` carrying the labels as single-point results."""
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
                stress = voigt6_to_3x3(s) if s.size == 6 else _shaped(s, (3, 3), "stress", len(atoms))
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


def _shaped(value, shape: tuple[int, int], label: str, n: int) -> np.ndarray:
    """``value`` as a float array of ``shape`` (a flat array of the right size is accepted), or an error
    naming the label and both shapes."""
    arr = np.asarray(value, dtype=np.float64)
    flat = arr.ndim == 1 and arr.size == shape[0] * shape[1]
    if arr.shape != shape and not flat:
        want = f"({n}, 3), one row per atom of the {n}" if label in ("positions", "forces") else "(3, 3)"
        raise InputError(f"{label} have shape {arr.shape}, expected {want}; check that the {label} belong to "
                         "this structure (same atoms, same order)")
    return arr.reshape(shape)
