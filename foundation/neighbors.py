"""The one neighbour-list wrapper (vesin): graphs, the MTP student, the MD overlap guard and the compound
generator all find their pairs through it."""

from __future__ import annotations

import numpy as np
from vesin import NeighborList


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float,
                  sorted: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list: ``(i, j, shifts, d)`` with r_ij = r_j - r_i + shifts @ cell.

    Non-periodic directions get a large box so vesin's cell algorithm still works. ``sorted``: pairs in
    order of ``i`` (then ``j``), as ASE gives them.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    box = np.array(cell, dtype=np.float64)
    if not pbc.all():
        # vesin needs a box even for open directions; any non-degenerate one will do.
        span = positions.max(axis=0) - positions.min(axis=0) if len(positions) else np.zeros(3)
        for k in np.where(~pbc)[0]:
            if np.linalg.norm(box[k]) < 1e-8:
                e = np.zeros(3)
                e[k] = span[k] + 2 * cutoff + 1.0
                box[k] = e
    if pbc.any() and not pbc.all():
        periodic = pbc.tolist()
    else:
        periodic = bool(pbc.all())
    nl = NeighborList(cutoff=float(cutoff), full_list=True, sorted=sorted)
    i, j, s, d = nl.compute(points=positions, box=box, periodic=periodic, quantities="ijSd")
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64), d


def pair_distances(atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, d)`` of every pair of ``atoms`` (ASE) closer than ``cutoff``, in order of ``i`` as ASE gives them."""
    i, j, _, d = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff, sorted=True)
    return i, j, d
