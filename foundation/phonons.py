"""Vibrational frequencies at Γ of a periodic cell by central finite differences of the forces."""

from __future__ import annotations

import numpy as np
from ase.units import _amu, _e


def gamma_frequencies(model, cell, delta: float = 0.01) -> np.ndarray:
    """Sorted frequencies (THz) at Γ of ``cell`` (ASE Atoms): the force constants come from ±``delta`` Å
    displacements of every atom along x, y and z, evaluated by ``model.predict`` in one batch.

    Imaginary modes come out negative. ``cell`` should be relaxed: residual forces cancel in the central
    difference, but the modes are those of the stationary point only if it is one.
    """
    n = len(cell)
    disp = []
    for i in range(n):
        for k in range(3):
            for sgn in (1, -1):
                b = cell.copy()
                b.positions[i, k] += sgn * delta
                disp.append(b)
    preds = model.predict(disp)
    hessian = np.zeros((3 * n, 3 * n))
    for c in range(3 * n):
        fp, fm = preds[2 * c]["forces"], preds[2 * c + 1]["forces"]
        hessian[c] = -(np.asarray(fp) - np.asarray(fm)).ravel() / (2 * delta)
    hessian = 0.5 * (hessian + hessian.T)
    m = np.repeat(cell.get_masses(), 3)
    w2 = np.linalg.eigvalsh(hessian / np.sqrt(np.outer(m, m)))  # eV/Å²/amu
    w = np.sign(w2) * np.sqrt(np.abs(w2) * _e / _amu) * 1e10 / (2 * np.pi) / 1e12
    return np.sort(w)
