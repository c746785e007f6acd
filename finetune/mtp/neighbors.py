"""Neighbour lists (vesin) in the CSR layout the kernel takes, with Verlet-skin reuse for MD,
and packing of many structures for fitting."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from unihub.foundation.neighbors import neighbor_list
from unihub.foundation.validate import check_geometry


def neighbor_pairs(positions: np.ndarray, cell: np.ndarray, pbc, cutoff: float):
    """Full neighbour list sorted by centre: (i, j, shift vectors in Å), pairs within cutoff."""
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    check_geometry(positions, cell, pbc)
    i, j, S, _ = neighbor_list(positions, cell, pbc, cutoff)
    order = np.argsort(i, kind="stable")  # the kernel takes neighbours grouped by centre (CSR)
    i, j, S = i[order], j[order], S[order]
    shifts = S.astype(np.float64) @ np.where(pbc[:, None], cell, 0.0)  # open directions have no images
    return i, j, shifts


def csr_offsets(i: np.ndarray, n: int) -> np.ndarray:
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=n), out=off[1:])
    return off


class VerletList:
    """Neighbours within ``cutoff + skin``, rebuilt only when an atom moved more than skin/2
    or the cell, pbc or atom count changed. Vectors are refreshed from positions each call."""

    def __init__(self, cutoff: float, skin: float = 0.5):
        self.cutoff, self.skin = float(cutoff), float(skin)
        self._ref = None
        self.builds = 0

    def update(self, positions: np.ndarray, cell: np.ndarray, pbc) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, j, vectors r_j - r_i) for the current positions."""
        positions = np.asarray(positions, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
        ref = self._ref
        stale = (ref is None or len(ref[0]) != len(positions) or not np.array_equal(ref[1], cell)
                 or not np.array_equal(ref[2], pbc))
        if not stale:
            disp = positions - ref[0]
            stale = float(np.max(np.einsum("ij,ij->i", disp, disp))) > (0.5 * self.skin) ** 2
        if stale:
            i, j, shifts = neighbor_pairs(positions, cell, pbc, self.cutoff + self.skin)
            self._i, self._j, self._shifts = i, j, shifts
            self._off = csr_offsets(i, len(positions))
            self._ref = (positions.copy(), cell.copy(), pbc)
            self.builds += 1
        rv = positions[self._j] - positions[self._i]
        rv += self._shifts
        return self._off, self._j, rv


@dataclass
class PackedDataset:
    """Many structures' atoms and neighbour pairs concatenated (global atom indices)."""

    atom_off: np.ndarray  # (S+1,)
    types: np.ndarray  # (N,) int32
    nb_off: np.ndarray  # (N+1,)
    nb_i: np.ndarray  # (P,) centre of each pair
    nb_j: np.ndarray  # (P,)
    rv: np.ndarray  # (P, 3)
    volumes: np.ndarray  # (S,) nan where not periodic in 3D

    @property
    def n_structures(self) -> int:
        return len(self.atom_off) - 1

    @property
    def n_atoms(self) -> int:
        return len(self.types)

    def c_args(self):
        i64 = ctypes.POINTER(ctypes.c_int64)
        return (self.atom_off.ctypes.data_as(i64), self.types.ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
                self.nb_off.ctypes.data_as(i64), self.nb_j.ctypes.data_as(i64),
                self.rv.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))

    @property
    def pair_structure(self) -> np.ndarray:
        return np.searchsorted(self.atom_off, self.nb_i, side="right") - 1

    @classmethod
    def pack(cls, structures, type_of: dict[int, int], cutoff: float) -> PackedDataset:
        """``structures``: iterable of (numbers, positions, cell, pbc)."""
        atom_off, types, nb_i, nb_j, rv, vols = [0], [], [], [], [], []
        base = 0
        for numbers, positions, cell, pbc in structures:
            numbers = np.asarray(numbers).reshape(-1)
            unknown = sorted(set(int(z) for z in numbers) - set(type_of))
            if unknown:
                raise ValueError(f"elements {unknown} are not in this potential (it has {sorted(type_of)})")
            positions = np.asarray(positions, dtype=np.float64)
            cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
            i, j, shifts = neighbor_pairs(positions, cell, pbc, cutoff)
            types.append(np.array([type_of[int(z)] for z in numbers], dtype=np.int32))
            nb_i.append(i + base)
            nb_j.append(j + base)
            rv.append(positions[j] - positions[i] + shifts)
            vols.append(abs(np.linalg.det(cell)) if np.all(pbc) else np.nan)
            base += len(numbers)
            atom_off.append(base)
        nb_i_all = np.concatenate(nb_i) if nb_i else np.zeros(0, np.int64)
        return cls(np.array(atom_off, dtype=np.int64), np.concatenate(types), csr_offsets(nb_i_all, base),
                   nb_i_all, np.concatenate(nb_j), np.ascontiguousarray(np.concatenate(rv)), np.array(vols))
