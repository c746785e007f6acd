"""``MTPModel``: the MTP student as a model like any other (calculator, predict, save, load)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .calculator import MTPCalculator, type_map
from .kernel import Kernel
from .maxvol import extrapolation_grade
from .mtpfile import MTPParams, read_mtp, write_mtp
from .neighbors import PackedDataset
from .repulsion import CoreRepulsion, core_path


class MTPModel:
    """A Moment Tensor Potential over named elements.

    Build an untrained one with ``MTPModel.from_level(16, ["Si"])``, fit it with
    :func:`unihub.finetune.mtp.fit.fit`, or load a ``.mtp`` file with ``MTPModel.load``. ``core``, when set, is a
    repulsive core added to every prediction (``repulsion.py``); fitting fits the MTP to the labels minus the core.
    """

    def __init__(self, params: MTPParams, core: CoreRepulsion | None = None):
        self.params = params
        self._kernel: Kernel | None = None
        self.core = core

    @property
    def core(self) -> CoreRepulsion | None:
        return self._core

    @core.setter
    def core(self, core: CoreRepulsion | None) -> None:
        if core is not None and list(core.elements) != self.elements:
            raise ValueError(f"a core for elements {list(core.elements)} on an MTP of {self.elements}")
        self._core = core
        self._kernel = None  # the kernel carries the core's floor

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
            if self._core is not None:
                self._kernel.set_floor(self._core.r_out, self._core.floor_width)
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
        return MTPCalculator(self.params, skin=skin, threads=threads, core=self.core, **kw)

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
        if self.core is not None:
            for a, o in zip(atoms_list, out):
                ec, fc, sc = self.core.compute(a)
                o["energy"] += float(ec.sum())
                o["forces"] += fc
                if o["stress"] is not None:
                    o["stress"] = o["stress"] + sc
        return out

    def save(self, path: str | os.PathLike) -> list[Path]:
        """Write the MLIP-2 ``.mtp`` file (elements recorded in ``potential_tag``) and, with a core, the
        ``x.core.table`` beside it (a core table left there by an earlier save is removed). Returns the files."""
        path = Path(path)
        write_mtp(path, self.params)
        if self.core is None:
            core_path(path).unlink(missing_ok=True)
            return [path]
        self.core.write_table(core_path(path))
        return [path, core_path(path)]

    @classmethod
    def load(cls, path: str | os.PathLike, elements: Sequence[str] | None = None) -> MTPModel:
        """Read a ``.mtp`` file (and its core table, if one lies beside it); ``elements`` names the species when the
        file does not."""
        p = read_mtp(path)
        if elements is not None:
            if len(elements) != p.species_count:
                raise ValueError(f"{len(elements)} elements given, the file has species_count={p.species_count}")
            if p.elements and list(p.elements) != list(elements):
                raise ValueError(f"{path} names elements {list(p.elements)}, not {list(elements)}")
            p.elements = list(elements)
        core = None
        if core_path(path).exists():
            core = CoreRepulsion.read_table(core_path(path))
            if p.elements and list(core.elements) != list(p.elements):
                raise ValueError(f"{core_path(path)} is for elements {list(core.elements)}, {path} has {p.elements}")
        return cls(p, core)

    def grade(self, atoms_list, active_set, threads: int | None = None) -> np.ndarray:
        """MaxVol extrapolation grade of each structure against ``active_set`` (see ``maxvol``)."""
        return extrapolation_grade(self, atoms_list, active_set, threads)
