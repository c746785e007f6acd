"""Errors of predictions against labels, defined once and named alike everywhere.

:func:`array_errors` is the definition, on arrays (per-structure energies and element counts, stacked
forces, 3x3 stresses); :func:`frame_errors` feeds it labelled frames and predictions. Both give
``energy_mae_meV_atom_raw``, ``energy_mae_meV_atom_aligned``, ``force_mae_meV_A`` and ``stress_mae_GPa``,
each with its RMSE named in the same scheme (``energy_rmse_meV_atom_raw``, ``force_rmse_meV_A``, ...): the
held-out suite, the forgetting report, head selection, MTP fits, distilled students' cards and the
benchmarks all read these.
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


def _mae_rmse(out: dict, name: str, unit: str, d: np.ndarray) -> None:
    out[f"{name}_mae_{unit}"] = float(np.mean(np.abs(d)))
    out[f"{name}_rmse_{unit}"] = float(np.sqrt(np.mean(d**2)))


def array_errors(energy=None, energy_ref=None, counts=None, forces=None, forces_ref=None, stress=None,
                 stress_ref=None, min_per_offset: int = 3) -> dict[str, float]:
    """MAE and RMSE of predictions against labels, each quantity given or left out (None).

    ``energy``, ``energy_ref``: (S,) eV per structure, with ``counts`` (S, K) its atoms of each element.
    ``energy_*_meV_atom_raw``: per atom as it is; ``energy_*_meV_atom_aligned``: after the best per-element
    offset, from two structures on and only with ``min_per_offset`` structures per offset (see
    :func:`aligned_energy_residuals`). ``forces``, ``forces_ref``: (N, 3) eV/Å, errors over components
    (``force_*_meV_A``). ``stress``, ``stress_ref``: (S, 3, 3) eV/Å³, errors over all nine components
    (``stress_*_GPa``). Structures, atoms and stresses with a non-finite entry are left out, and so is a key
    with nothing left to average.
    """
    out: dict[str, float] = {}
    if energy is not None:
        e, e_ref = np.asarray(energy, float).reshape(-1), np.asarray(energy_ref, float).reshape(-1)
        counts = np.asarray(counts, float).reshape(len(e), -1)
        ok = np.isfinite(e) & np.isfinite(e_ref)
        if ok.any():
            e, e_ref, c = e[ok], e_ref[ok], counts[ok]
            n = c.sum(axis=1)
            _mae_rmse(out, "energy", "meV_atom_raw", 1000 * (e - e_ref) / n)
            # an element absent from every structure has no offset to fit
            r = aligned_energy_residuals(c[:, c.any(axis=0)], e, e_ref, min_per_offset) if len(e) > 1 else None
            if r is not None:
                _mae_rmse(out, "energy", "meV_atom_aligned", 1000 * r / n)
    if forces is not None:
        d = (np.asarray(forces, float) - np.asarray(forces_ref, float)).reshape(-1, 3)
        d = d[np.isfinite(d).all(axis=1)]
        if d.size:
            _mae_rmse(out, "force", "meV_A", 1000 * d)
    if stress is not None:
        d = (np.asarray(stress, float) - np.asarray(stress_ref, float)).reshape(-1, 9)
        d = d[np.isfinite(d).all(axis=1)]
        if d.size:
            _mae_rmse(out, "stress", "GPa", EV_A3_TO_GPA * d)
    return out


def element_counts(frames: Sequence) -> np.ndarray:
    """(frames, elements) atoms of each element present in ``frames``, elements in increasing Z."""
    zs = sorted({int(z) for f in frames for z in f.numbers})
    return np.array([[np.sum(f.numbers == z) for z in zs] for f in frames], dtype=float).reshape(len(frames), -1)


def aligned_energy_mae(frames: Sequence, pred_e: Sequence[float], min_per_offset: int = 3) -> float | None:
    """MAE per atom (meV/atom) after the best per-element offset; None with too few frames per offset."""
    err = array_errors(pred_e, [f.energy for f in frames], element_counts(frames), min_per_offset=min_per_offset)
    return err.get("energy_mae_meV_atom_aligned")


def frame_errors(frames: Sequence, preds: Sequence[dict | None], min_per_offset: int = 3) -> dict[str, float]:
    """:func:`array_errors` of predictions (dicts of ``energy`` eV, ``forces`` eV/Å, ``stress`` eV/Å³; None
    where the model failed) against labelled frames (``unihub.foundation.data.Frame``).

    A key is left out when no frame carries that label; ``frames`` counts them all.
    """
    fe = [(f, p) for f, p in zip(frames, preds) if f.energy is not None and p is not None]
    ff = [(f, p) for f, p in zip(frames, preds) if f.forces is not None and p is not None and "forces" in p]
    fs = [(f, p) for f, p in zip(frames, preds)
          if f.stress is not None and p is not None and p.get("stress") is not None]
    arrays: dict = {}
    if fe:
        arrays.update(energy=[p["energy"] for _, p in fe], energy_ref=[f.energy for f, _ in fe],
                      counts=element_counts([f for f, _ in fe]))
    if ff:
        arrays.update(forces=np.concatenate([np.reshape(p["forces"], (-1, 3)) for _, p in ff]),
                      forces_ref=np.concatenate([f.forces for f, _ in ff]))
    if fs:
        arrays.update(stress=np.stack([np.reshape(p["stress"], (3, 3)) for _, p in fs]),
                      stress_ref=np.stack([np.reshape(f.stress, (3, 3)) for f, _ in fs]))
    return {"frames": len(frames), **array_errors(**arrays, min_per_offset=min_per_offset)}
