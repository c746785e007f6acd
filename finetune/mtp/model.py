"""``MTPModel``: the MTP student as a model like any other (calculator, predict, save, load)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .calculator import MTPCalculator, type_map
from .kernel import Kernel
from .maxvol import extrapolation_grade
from .mtpfile import MTPParams, read_mtp, write_mtp
from .neighbors import PackedDataset


class MTPModel:
    """A Moment Tensor Potential over named elements.

    Build an untrained one with ``MTPModel.from_level(16, ["Si"])``, fit it with
    :func:`unihub.finetune.mtp.fit.fit`, or load a ``.mtp`` file with ``MTPModel.load``.
    """

    def __init__(self, params: MTPParams):
        self.params = params
        self._kernel: Kernel | None = None

    @classmethod
    def from_level(cls, level: int, elements: Sequence[str], min_dist: float = 1.8, max_dist: float = 5.0,
                   radial_basis_size: int = 8, seed: int = 0) -> MTPModel:
        p = MTPParams.from_level(level, len(elements), min_dist, max_dist, radial_basis_size, list(elements))
        return cls(p.initialized(seed))

    @property
    def elements(self) -> list[str]:
        return list(self.params.elements)

    @property
    def cutoff(self) -> float:
        return float(self.params.max_dist)

    def kernel(self) -> Kernel:
        if self._kernel is None:
            self._kernel = Kernel(self.params)
        return self._kernel

    def set_coefficients(self, radial: np.ndarray, species: np.ndarray, moment: np.ndarray) -> None:
        self.params.radial_coeffs = np.array(radial, dtype=float).reshape(self.params.radial_coeffs.shape)
        self.params.species_coeffs = np.array(species, dtype=float)
        self.params.moment_coeffs = np.array(moment, dtype=float)
        if self._kernel is not None:
            self._kernel.set_params(self.params.radial_coeffs, self.params.species_coeffs,
                                    self.params.moment_coeffs)

    def calculator(self, skin: float = 0.5, threads: int | None = None, **kw) -> MTPCalculator:
        """An ASE calculator (energy, forces, stress, per-atom energies)."""
        return MTPCalculator(self.params, skin=skin, threads=threads, **kw)

    def pack(self, atoms_list) -> PackedDataset:
        return PackedDataset.pack(((a.numbers, a.positions, np.asarray(a.cell), a.pbc) for a in atoms_list),
                                  type_map(self.params), self.cutoff)

    def predict(self, atoms_list, threads: int | None = None) -> list[dict]:
        """Energy (eV), forces (eV/Å) and stress (3x3 eV/Å³, ASE sign; None unless 3D periodic)
        for each structure, evaluated together in one batched kernel call."""
        atoms_list = list(atoms_list)
        ds = self.pack(atoms_list)
        e, f, w = self.kernel().efs_dataset(ds, threads)
        out = []
        for s in range(len(atoms_list)):
            sl = slice(ds.atom_off[s], ds.atom_off[s + 1])
            stress = 0.5 * (w[s] + w[s].T) / ds.volumes[s] if np.isfinite(ds.volumes[s]) else None
            out.append({"energy": float(e[s]), "forces": f[sl].copy(), "stress": stress})
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the MLIP-2 ``.mtp`` file (elements recorded in ``potential_tag``)."""
        write_mtp(path, self.params)

    @classmethod
    def load(cls, path: str | os.PathLike, elements: Sequence[str] | None = None) -> MTPModel:
        """Read a ``.mtp`` file; ``elements`` names the species when the file does not."""
        p = read_mtp(path)
        if elements is not None:
            if len(elements) != p.species_count:
                raise ValueError(f"{len(elements)} elements given, the file has species_count={p.species_count}")
            if p.elements and list(p.elements) != list(elements):
                raise ValueError(f"{path} names elements {list(p.elements)}, not {list(elements)}")
            p.elements = list(elements)
        return cls(p)

    def grade(self, atoms_list, active_set, threads: int | None = None) -> np.ndarray:
        """MaxVol extrapolation grade of each structure against ``active_set`` (see ``maxvol``)."""
        return extrapolation_grade(self, atoms_list, active_set, threads)
