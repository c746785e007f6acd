"""Model-independent checks of labels: energy differences against forces and stresses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from unihub.foundation.data import Frame


def strain_pairs(frames: Sequence[Frame], max_strain: float = 0.03, min_strain: float = 1e-4):
    """(a, b, eps) for frames with the same atoms and fractional coordinates whose cells differ by a
    small homogeneous deformation: cell_b = cell_a @ (1 + D) (rows are vectors), eps = sym(D).
    The rotational part of D changes no energy, so simple shears count too."""
    buckets = defaultdict(list)
    for f in frames:
        if f.stress is not None and f.energy is not None:
            frac = np.linalg.solve(f.cell.T, f.positions.T).T
            key = np.round(frac % 1.0, 3) % 1.0 + 0.0  # same fractional coordinates -> same bucket
            buckets[f.numbers.tobytes() + key.tobytes()].append(f)
    for group in buckets.values():
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                D = np.linalg.solve(group[i].cell, group[j].cell) - np.eye(3)
                eps = (D + D.T) / 2
                if min_strain < np.abs(eps).max() < max_strain:
                    yield group[i], group[j], eps


def stress_ratios(frames: Sequence[Frame], min_de: float = 2e-3, **kw) -> np.ndarray:
    """dE / (V sigma : eps) over strain pairs (midpoint rule): +1 for eV/Å³ with ASE's sign."""
    out = []
    for a, b, eps in strain_pairs(frames, **kw):
        de = b.energy - a.energy
        if abs(de) < min_de:
            continue
        volume = (abs(np.linalg.det(a.cell)) + abs(np.linalg.det(b.cell))) / 2
        pred = volume * np.sum((a.stress + b.stress) / 2 * eps)
        out.append(de / pred)
    return np.array(out)


def force_ratios(frames: Sequence[Frame], min_de: float = 2e-3, max_step: float = 0.1) -> np.ndarray:
    """dE / (-F_mid . dr) between consecutive frames of one group with identical atoms and cell."""
    out = []
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        if a.group != b.group or not np.array_equal(a.numbers, b.numbers) or not np.allclose(a.cell, b.cell):
            continue
        dr = b.positions - a.positions
        if np.abs(dr).max() > max_step:
            continue
        de = b.energy - a.energy
        pred = -np.sum((a.forces + b.forces) / 2 * dr)
        if abs(de) > min_de and abs(pred) > 1e-6:
            out.append(de / pred)
    return np.array(out)
