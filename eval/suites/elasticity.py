"""Elastic moduli of MP binaries: Voigt-Reuss-Hill bulk and shear moduli against DFT.

Each structure is relaxed with the model (FIRE + FrechetCellFilter), then strained by ±0.5 % and ±1 % along
each of the six Voigt components; C is the least-squares slope of stress against strain (clamped ions,
matcalc's default of not relaxing the deformed cells) and K_VRH, G_VRH follow from C and S = C⁻¹.
"""

from __future__ import annotations

import numpy as np

from unihub.eval import plots
from unihub.eval.metrics import EV_A3_TO_GPA, mae_entry
from unihub.eval.suites import (
    Context,
    Headline,
    SuiteResult,
    column,
    dataset_info,
    footer,
    frame_rows,
    pick,
    relax_near,
)
from unihub.foundation.data import load_dataset

NAME = "elasticity"
TITLE = "Elastic moduli (MP binaries, K_VRH and G_VRH)"
DATASETS = ("mp_binary_elasticity",)
SIZES = {"quick": 2, "default": 12, "full": None}  # structures
MAX_ATOMS = {"quick": 8, "default": 12, "full": None}  # small cells keep the default run within budget
STRAINS = (-0.01, -0.005, 0.005, 0.01)
RELAX_STEPS = 60
_VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def elastic_tensor(model, atoms) -> np.ndarray:
    """6x6 stiffness (GPa, Voigt order xx yy zz yz xz xy, engineering shear strains) at ``atoms``."""
    cell0 = atoms.get_cell().array
    c = np.zeros((6, 6))
    for j, (a, b) in enumerate(_VOIGT):
        stresses = []
        for e in STRAINS:
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = e if a == b else e / 2
            s = atoms.copy()
            s.set_cell(cell0 @ (np.eye(3) + eps), scale_atoms=True)
            st = model.single_point(s, "pbe", forces=False)["stress"]
            stresses.append([st[i, k] for i, k in _VOIGT])
        c[:, j] = np.polyfit(STRAINS, np.array(stresses) * EV_A3_TO_GPA, 1)[0]
    return 0.5 * (c + c.T)


def vrh(c: np.ndarray) -> tuple[float, float]:
    """Voigt-Reuss-Hill bulk and shear moduli (GPa) from a 6x6 stiffness in Voigt notation."""
    kv = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9
    gv = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[0, 2] + c[1, 2]) + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    s = np.linalg.inv(c)
    kr = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[0, 2] + s[1, 2]))
    gr = 15 / (4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[0, 2] + s[1, 2])
               + 3 * (s[3, 3] + s[4, 4] + s[5, 5]))
    return float((kv + kr) / 2), float((gv + gr) / 2)


def moduli(model, frame) -> dict:
    """Relax with the model, then K_VRH and G_VRH (GPa)."""
    atoms = frame.to_atoms()
    r = relax_near(model, atoms, fmax=0.05, steps=RELAX_STEPS)
    k, g = vrh(elastic_tensor(model, atoms))
    return {"K_GPa": k, "G_GPa": g, "relax_steps": r["steps"], "relaxed": r["converged"]}


def run(ctx: Context) -> SuiteResult:
    cap = MAX_ATOMS[ctx.size]
    frames = [f for f in load_dataset("mp_binary_elasticity") if cap is None or len(f) <= cap]
    frames = pick(frames, ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(frames), [
        Headline("k_mae_GPa", "K_VRH MAE GPa"), Headline("g_mae_GPa", "G_VRH MAE GPa")])
    res.notes.append(f"{len(frames)} structures (≤ {cap or 'any'} atoms); relaxed ≤ {RELAX_STEPS} FIRE steps, "
                     "clamped-ion strains ±0.5 %, ±1 %.")
    parity = {}

    def refs(f) -> dict:
        return {"K_ref_GPa": f.info["bulk_modulus_vrh"], "G_ref_GPa": f.info["shear_modulus_vrh"]}

    for m, rows in frame_rows(ctx, res, frames, moduli, refs):
        ok = [r for r in rows if r["error"] is None and np.isfinite([r["K_GPa"], r["G_GPa"]]).all()]
        res.summary[m.name] = {"n": len(ok), **mae_entry("k_mae_GPa", column(ok, "K_GPa"), column(ok, "K_ref_GPa")),
                               **mae_entry("g_mae_GPa", column(ok, "G_GPa"), column(ok, "G_ref_GPa"))}
        parity[f"{m.name} K"] = (column(ok, "K_ref_GPa"), column(ok, "K_GPa"))
        parity[f"{m.name} G"] = (column(ok, "G_ref_GPa"), column(ok, "G_GPa"))
    if parity:
        res.figures.append(("Elastic moduli parity", plots.parity(
            parity, "DFT modulus (GPa)", "model modulus (GPa)", "K_VRH and G_VRH", footer(datasets, ctx.models))))
    return res
