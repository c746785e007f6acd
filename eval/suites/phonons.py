"""Phonons of Alexandria binaries: constant-volume heat capacity at 300 K via phonopy, against DFT.

Each structure is relaxed with the model (FIRE + FrechetCellFilter), then phonopy builds finite displacements
(0.01 Å) in a diagonal supercell at least ``MIN_LENGTH`` Å along each axis; C_v(300 K) is in J/(K mol of
stored cells), the card's unit.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
from ase import Atoms

from unihub.eval import plots
from unihub.eval.metrics import mae, mae_entry
from unihub.eval.suites import Context, Headline, SuiteResult, dataset_info, footer, frame_rows, pick, relax_near
from unihub.foundation.data import load_dataset

NAME = "phonons"
TITLE = "Phonon heat capacity at 300 K (Alexandria binaries)"
DATASETS = ("alexandria_phonon",)
SIZES = {"quick": 1, "default": 6, "full": None}  # structures
MAX_ATOMS = {"quick": 4, "default": 8, "full": None}
MIN_LENGTH = 7.0  # Å, supercell edge
RELAX_STEPS = 60


def heat_capacity(model, frame, temperature: float = 300.0) -> dict:
    """Relax with the model, then C_v(T) from phonopy (J/(K mol of cells)) and the number of displacements."""
    # phonopy (a third of a second to import) only when a suite measures phonons
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = frame.to_atoms()
    r = relax_near(model, atoms, fmax=0.02, steps=RELAX_STEPS)
    lengths = np.linalg.norm(atoms.cell.array, axis=1)
    sc = np.diag(np.maximum(1, np.ceil(MIN_LENGTH / lengths)).astype(int))
    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions())
    ph = Phonopy(unit, supercell_matrix=sc, primitive_matrix="P")  # C_v per stored cell, the card's unit
    ph.generate_displacements(distance=0.01)
    forces = []
    for s in ph.supercells_with_displacements:
        a = Atoms(s.symbols, cell=s.cell, scaled_positions=s.scaled_positions, pbc=True)
        forces.append(model.single_point(a, "pbe", stress=False)["forces"])
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.run_mesh([12, 12, 12], is_gamma_center=True)  # keeps the point-group reduction
    ph.run_thermal_properties(temperatures=[temperature], exclude_gamma_acoustic=True)  # Γ: zero modes
    cv = float(ph.thermal_properties.heat_capacity[0])
    return {"cv_J_K_mol": cv, "displacements": len(forces), "supercell_atoms": int(len(atoms) * np.prod(np.diag(sc))),
            "relaxed": r["converged"]}


def run(ctx: Context) -> SuiteResult:
    cap = MAX_ATOMS[ctx.size]
    frames = pick([f for f in load_dataset("alexandria_phonon") if cap is None or len(f) <= cap],
                  ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(frames), [Headline("cv_mae_J_K_mol", "C_v(300 K) MAE J/K/mol")])
    res.notes.append(f"{len(frames)} structures (≤ {cap or 'any'} atoms); phonopy {_phonopy_version()}, "
                     f"supercells ≥ {MIN_LENGTH} Å, 12³ mesh.")
    parity = {}
    for m, rows in frame_rows(ctx, res, frames, heat_capacity, lambda f: {"cv_ref_J_K_mol": f.info["heat_capacity"]}):
        ok = [r for r in rows if r["error"] is None]
        ref, pred = np.array([r["cv_ref_J_K_mol"] for r in ok]), np.array([r["cv_J_K_mol"] for r in ok])
        res.summary[m.name] = {"n": len(ok), **mae_entry("cv_mae_J_K_mol", pred, ref),
                               "cv_mae_percent": mae(100 * pred / ref, 100) if ok else float("nan")}
        parity[m.name] = (ref, pred)
    if parity:
        res.figures.append(("Heat capacity parity", plots.parity(
            parity, "DFT C_v (J/K/mol)", "model C_v (J/K/mol)", "C_v at 300 K", footer(datasets, ctx.models))))
    return res


def _phonopy_version() -> str:
    try:
        return version("phonopy")
    except Exception:  # noqa: BLE001 - only a label
        return "?"
