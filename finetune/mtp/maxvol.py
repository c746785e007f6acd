"""MaxVol extrapolation grade (D-optimality, as in MLIP's active learning).

Every neighbourhood (or configuration) is a row of linear-basis values: the scalar moments
``B_q`` of an atom (``mode="neighborhood"``) or ``[species counts, sum_i B_q]`` of a structure
(``mode="configuration"``). The active set is the square submatrix ``A`` of maximal volume among
the training rows; the grade of a row ``x`` is ``max_j |(x A^-1)_j|``. Rows of the training set
have grade <= 1 (up to the MaxVol tolerance); grade > 1 means extrapolation, and by
MLIP's usual thresholds 1 < grade < ~3-10 is "select for training", beyond that "stop MD".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lu_factor, lu_solve, qr


def maxvol(X: np.ndarray, tol: float = 1e-3, max_iter: int = 1000) -> np.ndarray:
    """Indices of ``m`` rows of the tall ``X`` (n x m) whose submatrix has (locally) maximal
    volume: every row of ``X`` is then a combination of them with coefficients <= 1 + tol."""
    n, m = X.shape
    if n < m:
        raise ValueError(f"MaxVol needs at least as many rows ({n}) as basis functions ({m}): "
                         "add training structures or lower the MTP level")
    _, _, piv = qr(X.T, pivoting=True, mode="economic")
    rows = np.array(piv[:m])
    for _ in range(max_iter):
        C = lu_solve(lu_factor(X[rows].T), X.T).T  # (n, m): X = C @ X[rows]
        i, j = np.unravel_index(np.argmax(np.abs(C)), C.shape)
        if abs(C[i, j]) <= 1.0 + tol:
            break
        rows[j] = i  # swapping in row i multiplies the volume by |C_ij| > 1
    return rows


@dataclass
class ActiveSet:
    """Rows of maximal volume and the factorised active matrix."""

    rows: np.ndarray  # (m, m), columns divided by scale
    mode: str
    scale: np.ndarray  # (m,)

    def grade_rows(self, X: np.ndarray) -> np.ndarray:
        C = lu_solve(lu_factor(self.rows.T), (np.asarray(X, float) / self.scale).T).T
        return np.max(np.abs(C), axis=1)


def _rows(model, atoms_list, mode: str, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Basis rows and, per row, the structure it belongs to."""
    ds = model.pack(atoms_list)
    B, _, _ = model.kernel().basis_dataset(ds, derivatives=False, threads=threads)
    owner = np.repeat(np.arange(ds.n_structures), np.diff(ds.atom_off))
    if mode == "neighborhood":
        return B, owner
    if mode != "configuration":
        raise ValueError(f"mode must be 'neighborhood' or 'configuration', got {mode!r}")
    S, ns = ds.n_structures, model.params.species_count
    counts = np.zeros((S, ns))
    np.add.at(counts, (owner, ds.types), 1.0)
    X = np.hstack([counts, np.add.reduceat(B, ds.atom_off[:-1], axis=0)])
    return X, np.arange(S)


def select_active_set(model, atoms_list, mode: str = "neighborhood", tol: float = 1e-3) -> ActiveSet:
    """The MaxVol active set of a training set of ``Atoms``/``Frame``-like structures."""
    X, _ = _rows(model, atoms_list, mode)
    # column scaling does not change grades but keeps the pivoted QR and LU well conditioned
    scale = np.linalg.norm(X, axis=0)
    scale[scale == 0] = 1.0
    X = X / scale
    return ActiveSet(X[maxvol(X, tol)], mode, scale)


def extrapolation_grade(model, atoms_list, active_set: ActiveSet, threads: int | None = None) -> np.ndarray:
    """Grade of each structure: the largest grade over its neighbourhoods (or the
    configuration's own grade)."""
    X, owner = _rows(model, list(atoms_list), active_set.mode, threads)
    g = active_set.grade_rows(X)
    out = np.zeros(owner.max() + 1 if len(owner) else 0)
    np.maximum.at(out, owner, g)
    return out
