"""Geometry of generated structures: the close-contact guard, first coordination shells, scaling,
supercells, reduced formulas and the volume scan a teacher refines a first-guess volume with."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from pymatgen.core import Composition

from unihub.foundation.neighbors import pair_distances

GUARD = 0.6  # no pair closer than GUARD x (sum of covalent radii)


def check_contacts(atoms: Atoms, factor: float = GUARD) -> bool:
    """True when no pair (periodic images included) is closer than ``factor`` x the sum of covalent radii."""
    r = covalent_radii[atoms.numbers]
    cut = float(factor * 2 * r.max())
    i, j, d = pair_distances(atoms, cut)
    return not np.any(d < factor * (r[i] + r[j]) - 1e-9)


def _first_shell(atoms: Atoms, cations: np.ndarray | None = None, tol: float = 1.25):
    """First-shell bonds (i, j, d) and shell sizes. With ``cations`` (bool mask): from each cation to the
    anions within ``tol`` x its nearest anion (an anion's shell: the cations bonded to it); else from
    each atom to any atom within 1.15 x its nearest."""
    dmin = float(_min_distance(atoms))
    i, j, d = pair_distances(atoms, 3.0 * dmin)
    if cations is not None:
        keep = cations[i] & ~cations[j]
        i, j, d = i[keep], j[keep], d[keep]
    else:
        tol = 1.15
    if len(d) == 0:
        return i, j, d, np.zeros(len(atoms), int)
    nearest = np.full(len(atoms), np.inf)
    np.minimum.at(nearest, i, d)
    keep = d <= tol * nearest[i] + 1e-9
    i, j, d = i[keep], j[keep], d[keep]
    cn = np.bincount(i, minlength=len(atoms))
    if cations is not None:
        cn = cn + np.bincount(j, minlength=len(atoms))
    return i, j, d, cn


def _min_distance(atoms: Atoms) -> float:
    span = float(np.cbrt(atoms.get_volume() / len(atoms))) * 2.5
    _, _, d = pair_distances(atoms, span)
    return float(d.min()) if len(d) else span


def _scale(atoms: Atoms, s: float) -> Atoms:
    atoms.set_cell(atoms.cell * s, scale_atoms=True)
    return atoms


def supercell(atoms: Atoms, max_atoms: int) -> tuple[Atoms, tuple[int, int, int]]:
    """The most cube-like repetition with at most ``max_atoms`` atoms, and the repetition."""
    lengths = atoms.cell.lengths()
    best, best_score = (1, 1, 1), -1.0
    for n in product(range(1, 7), repeat=3):
        if len(atoms) * n[0] * n[1] * n[2] > max_atoms:
            continue
        score = float((lengths * n).min()) + 1e-3 * n[0] * n[1] * n[2]
        if score > best_score:
            best, best_score = n, score
    out = atoms * best
    out.info = dict(atoms.info)
    return out, best


def reduced_formula(atoms: Atoms) -> str:
    """pymatgen's reduced formula (e.g. ``Fe2O3``)."""
    syms = atoms.get_chemical_symbols()
    return Composition({s: syms.count(s) for s in set(syms)}).reduced_formula


def volume_scan(atoms: Atoms, scales: Sequence[float] = (0.94, 0.97, 1.0, 1.03, 1.06)) -> list[Atoms]:
    """Copies of ``atoms`` scaled isotropically to ``scales`` x its volume (for the teacher to pick the
    volume from), each with ``info["volume_scale"]`` and ``parent`` = the original's id."""
    out = []
    for s in scales:
        a = atoms.copy()
        a.set_cell(atoms.cell * float(s) ** (1 / 3), scale_atoms=True)
        pid = atoms.info.get("id", "")
        a.info.update(volume_scale=float(s), parent=pid, id=f"{pid}@v{float(s):.3f}")
        out.append(a)
    return out
