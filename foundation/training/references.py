"""Per-fidelity, per-element reference energies by least squares, and the energy scale."""

from __future__ import annotations

import numpy as np


def fit_references(source, indices: np.ndarray, fidelity_map: np.ndarray, n_heads: int, max_z: int = 118,
                   ridge: float = 1e-6):
    """Solve E ≈ Σ_Z n_Z e[fid, Z] per head on frames with energies.

    Returns ``(references (n_heads, max_z+1), seen (n_heads, max_z+1) bool, force_rms)``;
    ``seen`` marks elements present in any labelled frame of that head.
    """
    counts = {h: [] for h in range(n_heads)}
    energies = {h: [] for h in range(n_heads)}
    seen = np.zeros((n_heads, max_z + 1), dtype=bool)
    sq, nf = 0.0, 0
    for i in indices:
        d = source.get(int(i))
        h = int(fidelity_map[int(d["fidelity"])])
        c = np.bincount(np.asarray(d["numbers"]), minlength=max_z + 1)
        seen[h] |= c > 0
        if d["has_energy"]:
            counts[h].append(c)
            energies[h].append(float(d["energy"]))
        if d["has_forces"]:
            f = np.asarray(d["forces"], dtype=float)
            sq += float((f**2).sum())
            nf += f.size
    refs = np.zeros((n_heads, max_z + 1))
    for h in range(n_heads):
        if not counts[h]:
            continue
        a = np.array(counts[h], dtype=float)
        e = np.array(energies[h])
        cols = np.where(a.sum(axis=0) > 0)[0]
        a = a[:, cols]
        # a small ridge keeps collinear element counts (e.g. fixed stoichiometry) well-posed
        sol = np.linalg.solve(a.T @ a + ridge * np.eye(len(cols)) * len(e), a.T @ e)
        refs[h, cols] = sol
    force_rms = float(np.sqrt(sq / nf)) if nf else 1.0
    return refs, seen, force_rms
