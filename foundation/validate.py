"""Refuse bad structures at the door, with messages that name the problem and the fix."""

from __future__ import annotations

import numpy as np

from unihub.foundation.errors import InputError

MIN_DISTANCE = 0.1  # Å; closer pairs are unphysical and blow up any potential


def check_structure(numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
    """Raise ``ValueError`` for structures no potential should be asked about."""
    numbers = np.asarray(numbers)
    positions = np.asarray(positions, dtype=float)
    if len(numbers) == 0:
        raise InputError("empty structure: it has no atoms; pass at least one atom")
    if positions.shape != (len(numbers), 3):
        raise InputError(f"positions have shape {positions.shape}, expected ({len(numbers)}, 3)")
    bad = (numbers < 1) | (numbers > 118)
    if bad.any():
        raise InputError(
            f"atomic numbers {sorted(set(numbers[bad].tolist()))} are outside Z=1..118; "
            "check the species column of your input"
        )
    check_geometry(positions, cell, pbc)


def check_geometry(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
    """The species-free part of :func:`check_structure`: atoms present, finite positions, a usable cell."""
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float).reshape(3, 3)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if len(positions) == 0:
        raise InputError("empty structure: it has no atoms; pass at least one atom")
    if not np.isfinite(positions).all():
        rows = np.where(~np.isfinite(positions).all(axis=1))[0]
        raise InputError(f"positions of atoms {rows[:10].tolist()} are NaN or infinite")
    if not np.isfinite(cell).all():
        raise InputError("the cell contains NaN or infinite entries")
    if pbc.any():
        # Only the periodic directions need independent vectors.
        vecs = cell[pbc]
        sv = np.linalg.svd(vecs, compute_uv=False) if len(vecs) else np.array([1.0])
        if sv.min() < 1e-6 * max(sv.max(), 1.0):
            raise InputError(
                "the cell is singular (zero volume or linearly dependent vectors) along periodic "
                f"directions pbc={pbc.tolist()}; give a proper cell or set pbc=False"
            )


def check_distances(i: np.ndarray, j: np.ndarray, d: np.ndarray) -> None:
    """Refuse atoms closer than ``MIN_DISTANCE`` (given a neighbour list's pairs and distances)."""
    close = d < MIN_DISTANCE
    if close.any():
        k = int(np.argmin(d))
        raise InputError(
            f"atoms {int(i[k])} and {int(j[k])} are {d[k]:.3g} Å apart (< {MIN_DISTANCE} Å): "
            "overlapping atoms; check for duplicated positions or wrong units (Bohr vs Å, fractional vs Cartesian)"
        )
