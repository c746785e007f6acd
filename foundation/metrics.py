"""Errors of predictions against labelled frames, defined once and named alike everywhere.

``frame_errors`` gives ``energy_mae_meV_atom_raw``, ``energy_mae_meV_atom_aligned``, ``force_mae_meV_A``
and ``stress_mae_GPa``: the held-out suite, the forgetting report and the benchmarks all read these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unihub.foundation.data.units import EV_A3_TO_GPA


def mae(pred, true) -> float:
    """Mean absolute difference over the finite entries (NaN when there are none)."""
    d = np.asarray(pred, float) - np.asarray(true, float)
    d = d[np.isfinite(d)]
    return float(np.mean(np.abs(d))) if d.size else float("nan")


def rmse(pred, true) -> float:
    """Root mean square difference over the finite entries (NaN when there are none)."""
    d = np.asarray(pred, float) - np.asarray(true, float)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d**2))) if d.size else float("nan")


def aligned_energy_residuals(counts: np.ndarray, pred: np.ndarray, true: np.ndarray,
                             min_per_offset: int = 3) -> np.ndarray | None:
    """Per-structure energy errors (eV) after the best per-element offset (least squares on these frames).

    ``counts[i, k]`` is the number of atoms of element k in structure i. DFT codes, PAW sets and peers'
    reference energies differ by per-element constants that say nothing about the potential energy
    surface, so those constants are fitted away, separately for every model. None when there are fewer
    than ``min_per_offset`` structures per fitted offset: the fit would absorb the errors themselves.
    """
    counts = np.asarray(counts, float)
    if counts.ndim != 2 or len(counts) < min_per_offset * counts.shape[1]:
        return None
    resid = np.asarray(pred, float) - np.asarray(true, float)
    coef, *_ = np.linalg.lstsq(counts, resid, rcond=None)
    return resid - counts @ coef


def aligned_energy_mae(frames: Sequence, pred_e: Sequence[float], min_per_offset: int = 3) -> float | None:
    """MAE per atom (meV/atom) after the best per-element offset; None with too few frames per offset."""
    zs = sorted({int(z) for f in frames for z in f.numbers})
    counts = np.array([[np.sum(f.numbers == z) for z in zs] for f in frames], dtype=float)
    res = aligned_energy_residuals(counts, np.asarray(pred_e), np.array([f.energy for f in frames]), min_per_offset)
    if res is None:
        return None
    return float(np.mean(np.abs(res / np.array([len(f) for f in frames])))) * 1000


def frame_errors(frames: Sequence, preds: Sequence[dict | None], min_per_offset: int = 3) -> dict[str, float]:
    """Errors of predictions (dicts of ``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³; None where the model
    failed) against labelled frames (``unihub.foundation.data.Frame``).

    ``energy_mae_meV_atom_raw``: energy per atom as it is; ``energy_mae_meV_atom_aligned``: after the best
    per-element offset, from two frames on and only with ``min_per_offset`` frames per offset (see
    :func:`aligned_energy_residuals`); ``force_mae_meV_A`` over force components; ``stress_mae_GPa`` over the
    nine stress components. A key is left out when no frame carries that label; ``frames`` counts them all.
    """
    fe = [(f, p) for f, p in zip(frames, preds) if f.energy is not None and p is not None]
    ff = [(f, p) for f, p in zip(frames, preds) if f.forces is not None and p is not None and "forces" in p]
    fs = [(f, p) for f, p in zip(frames, preds)
          if f.stress is not None and p is not None and p.get("stress") is not None]
    out: dict[str, float] = {"frames": len(frames)}
    if len(fe) > 1:
        aligned = aligned_energy_mae([f for f, _ in fe], [p["energy"] for _, p in fe], min_per_offset)
        if aligned is not None:
            out["energy_mae_meV_atom_aligned"] = aligned
    if fe:
        out["energy_mae_meV_atom_raw"] = 1000 * float(np.mean([abs(p["energy"] - f.energy) / len(f) for f, p in fe]))
    if ff:
        out["force_mae_meV_A"] = 1000 * float(np.mean(np.concatenate(
            [np.abs(p["forces"] - f.forces).ravel() for f, p in ff])))
    if fs:
        out["stress_mae_GPa"] = EV_A3_TO_GPA * float(np.mean(np.concatenate(
            [np.abs(np.asarray(p["stress"]).reshape(3, 3) - f.stress).ravel() for f, p in fs])))
    return out
