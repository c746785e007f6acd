"""MD stability: Langevin NVT at high temperature, then NVE, on supercells of WBM structures.

A run stays physical when, at every logged frame (every 10 steps), energies are finite, no pair of atoms
is closer than 0.5 Å and the temperature stays below 5 × the target (a run that heats up without bound
is an exploding one). The NVE segment that follows starts from the NVT end point with fresh velocities at
half the temperature (the equilibrated potential energy brings it back up); its drift is the slope of
total energy per atom against time (meV/atom/ps). Runs go through ``unihub.foundation.simulate.md``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from ase.io import read

from unihub.eval.metrics import spread
from unihub.eval.suites import Context, Headline, SuiteResult, dataset_info, frame_rows, pick
from unihub.foundation.data import load_dataset
from unihub.foundation.simulate import md

NAME = "md_stability"
TITLE = "MD stability (NVT at 1200 K, then NVE)"
DATASETS = ("wbm_random_1000",)
SIZES = {"quick": 1, "default": 2, "full": 12}  # structures
STEPS = {"quick": (20, 20), "default": (100, 50), "full": (1000, 500)}  # (NVT, NVE) steps of 1 fs
TEMPERATURE = 1200.0
MIN_PAIR = 0.5  # Å
MIN_ATOMS = 24


def supercell(atoms, min_atoms: int = MIN_ATOMS):
    """Repeat the shortest cell vector until the cell holds at least ``min_atoms`` atoms."""
    reps = np.ones(3, int)
    while len(atoms) * reps.prod() < min_atoms:
        lengths = np.linalg.norm(atoms.cell.array, axis=1) * reps
        reps[int(np.argmin(lengths))] += 1
    return atoms.repeat(tuple(reps))


def physical(trajectory: str, temperature: float) -> tuple[bool, float, str]:
    """(stayed physical, smallest pair distance seen, why not) over the frames of a trajectory."""
    d_min = np.inf
    for a in read(trajectory, ":"):
        d = a.get_all_distances(mic=True)
        d_min = min(d_min, float(d[np.triu_indices(len(a), 1)].min()))
        if not np.isfinite(a.get_potential_energy()):
            return False, d_min, "non-finite energy"
        if d_min < MIN_PAIR:
            return False, d_min, f"pair closer than {MIN_PAIR} Å"
        if a.get_temperature() > 5 * temperature:
            return False, d_min, "temperature above 5x target"
    return True, d_min, ""


def stability(model, atoms, nvt_steps: int, nve_steps: int) -> dict:
    calc = model.calculator("pbe")
    with tempfile.TemporaryDirectory() as tmp:
        traj = str(Path(tmp) / "nvt.traj")
        nvt = md(atoms, TEMPERATURE, nvt_steps, ensemble="nvt", calculator=calc, trajectory=traj,
                 friction=0.02, progress=False)
        ok, d_min, why = physical(traj, TEMPERATURE)
        out = {"physical": ok, "min_pair_A": d_min, "why": why, "final_T_K": float(nvt["temperature"][-1])}
        if ok and nve_steps:
            nve = md(atoms, TEMPERATURE / 2, nve_steps, ensemble="nve", calculator=calc, progress=False)
            out["nve_drift_meV_atom_ps"] = 1000 * float(nve.get("drift_ev_per_atom_ps", np.nan))
    return out


def run(ctx: Context) -> SuiteResult:
    nvt_steps, nve_steps = STEPS[ctx.size]
    # small cells without hydrogen: a 1 fs step is meant for them, and supercells stay ~24-40 atoms
    pool = [f for f in load_dataset("wbm_random_1000") if len(f) <= 8 and 1 not in f.numbers]
    frames = pick(pool, ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(frames), [
        Headline("physical_fraction", "MD physical fraction", lower_is_better=False),
        Headline("nve_drift_abs_meV_atom_ps", "NVE drift (abs) meV/atom/ps")])
    res.notes.append(f"{len(frames)} WBM structures as ≥ {MIN_ATOMS}-atom supercells; {nvt_steps} NVT steps at "
                     f"{TEMPERATURE:g} K then {nve_steps} NVE steps (1 fs).")

    def run_one(m, f) -> dict:
        return stability(m, supercell(f.to_atoms()), nvt_steps, nve_steps)

    for m, rows in frame_rows(ctx, res, frames, run_one, lambda f: {"natoms": len(supercell(f.to_atoms()))}):
        # a crash inside MD is the model failing to stay physical, and counts as such
        phys = [bool(r.get("physical")) and r["error"] is None for r in rows]
        drift = [abs(r["nve_drift_meV_atom_ps"]) for r in rows if np.isfinite(r.get("nve_drift_meV_atom_ps", np.nan))]
        res.summary[m.name] = {"n": len(rows), "physical_fraction": float(np.mean(phys)),
                               "physical_fraction_spread": spread(phys),
                               "nve_drift_abs_meV_atom_ps": float(np.mean(drift)) if drift else float("nan"),
                               "nve_drift_abs_meV_atom_ps_n": len(drift),
                               "nve_drift_abs_meV_atom_ps_spread": spread(drift)}
    return res
