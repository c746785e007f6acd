"""The one E(V) fit: Birch-Murnaghan through a cubic in V^(-2/3)."""

from __future__ import annotations

import numpy as np


def birch_murnaghan(volumes, energies) -> dict:
    """V0 (Å³, same normalisation as ``volumes``), E0, B0 (eV/Å³) and B' from a cubic fit in x = V^(-2/3)."""
    v = np.asarray(volumes, float)
    p = np.poly1d(np.polyfit(v ** (-2 / 3), np.asarray(energies, float), 3))
    d1, d2, d3 = p.deriv(1), p.deriv(2), p.deriv(3)
    roots = [r.real for r in d1.roots if abs(r.imag) < 1e-12 and r.real > 0 and d2(r.real) > 0]
    if not roots:
        raise ValueError("no energy minimum in the fitted E(V): the curve is not convex around the reference")
    x0 = min(roots, key=lambda r: abs(r ** (-1.5) - v.mean()))
    v0 = x0 ** (-1.5)
    # derivatives of E(V) through x(V) = V^(-2/3); p'(x0) = 0 drops the other terms
    xp, xpp = -2 / 3 * v0 ** (-5 / 3), 10 / 9 * v0 ** (-8 / 3)
    e2 = d2(x0) * xp**2
    e3 = d3(x0) * xp**3 + 3 * d2(x0) * xp * xpp
    b0 = v0 * e2
    return {"V0": float(v0), "E0": float(p(x0)), "B0": float(b0), "B1": float(-1 - v0**2 * e3 / b0)}
