"""Equations of state on the ACWF verification set (unaries and oxides) against the all-electron references.

For each crystal the reference structure is scaled isotropically to 7 volumes within ±6 % of the
all-electron V0 (the ACWF protocol), single-point energies are fitted with a Birch-Murnaghan EOS (a cubic in
V^(-2/3), as the ACWF scripts do) and V0 (per atom), B0 and B' are compared with the AE-average fits.
"""

from __future__ import annotations

import numpy as np

from unihub.eval import plots
from unihub.eval.metrics import EV_A3_TO_GPA, mae, mae_entry
from unihub.eval.models import attempt
from unihub.eval.suites import Context, Headline, SuiteResult, Timer, column, dataset_info, footer, pick
from unihub.foundation.data import load_card, resolve_file
from unihub.foundation.data.readers import READERS
from unihub.foundation.eos import birch_murnaghan

NAME = "eos"
TITLE = "Equations of state (ACWF unaries + oxides, all-electron references)"
DATASETS = ("acwf_eos",)
SIZES = {"quick": 4, "default": 40, "full": None}  # crystals
STRAINS = np.linspace(0.94, 1.06, 7)  # volume factors, as in the ACWF verification


def reference_crystals() -> list:
    """Frames at the all-electron V0 (one per crystal), each with its fit in ``info['bm_fit']``."""
    card = load_card("acwf_eos")
    out = []
    for f in card.files:
        if "AE-average" not in f.path:
            continue
        key, options = card.reader_for(f)
        path = resolve_file(card, f)
        for name in {g.path for g in card.files if g.path.startswith("xsfs-")}:
            resolve_file(card, name)  # the reader finds the structures next to the results
        out += [fr for fr in READERS[key](path, {**options, "dataset": card.name}) if fr.info.get("bm_fit")]
    return sorted(out, key=lambda fr: fr.group)


def model_eos(model, frame) -> dict:
    """The model's Birch-Murnaghan fit around the reference V0 (volumes per atom)."""
    atoms = frame.to_atoms()
    atoms.calc = None
    cell0, n = atoms.get_cell().array, len(atoms)
    vols, es = [], []
    for s in STRAINS:
        a = atoms.copy()
        a.set_cell(cell0 * s ** (1 / 3), scale_atoms=True)
        es.append(model.single_point(a, "pbe", forces=False, stress=False)["energy"] / n)
        vols.append(a.get_volume() / n)
    return birch_murnaghan(vols, es)


def run(ctx: Context) -> SuiteResult:
    crystals = pick(reference_crystals(), ctx.n(SIZES), ctx.seed)
    datasets = [dataset_info(n) for n in DATASETS]
    res = SuiteResult(NAME, TITLE, datasets, len(crystals), [
        Headline("v0_mae_percent", "V0 MAE %"), Headline("b0_mae_GPa", "B0 MAE GPa"),
    ])
    res.notes.append(f"{len(crystals)} crystals; 7 volumes within ±6 % of the AE V0; Birch-Murnaghan fits.")
    timer, parity = Timer(res), {}
    for m in ctx.models:
        ctx.log(f"eos: {m.name}")
        rows = []
        with timer(m):
            for fr in ctx.covered(m, crystals, f"eos {m.name}"):
                fit = fr.info["bm_fit"]
                v0_ref = abs(np.linalg.det(fr.cell)) / len(fr)
                b0_ref, b1_ref = fit["bulk_modulus_ev_ang3"] * EV_A3_TO_GPA, fit["bulk_deriv"]
                a = attempt(model_eos, m, fr)
                row = {"v0_ref_A3_atom": v0_ref, "b0_ref_GPa": b0_ref, "b1_ref": b1_ref}
                if a.ok:
                    row |= {"v0_A3_atom": a.value["V0"], "b0_GPa": a.value["B0"] * EV_A3_TO_GPA, "b1": a.value["B1"],
                            "v0_err_percent": 100 * (a.value["V0"] / v0_ref - 1)}
                rows.append(res.record(m, fr.group, a.error, **row))
        if not rows:
            res.skipped[m.name] = "no crystal within the model's elements"
            continue
        ok = [r for r in rows if r["error"] is None]
        res.summary[m.name] = {"n": len(ok), **mae_entry("v0_mae_percent", column(ok, "v0_err_percent"), 0),
                               **mae_entry("b0_mae_GPa", column(ok, "b0_GPa"), column(ok, "b0_ref_GPa")),
                               "b1_mae": mae(column(ok, "b1"), column(ok, "b1_ref"))} if ok else {"n": 0}
        if ok:
            parity[m.name] = (column(ok, "b0_ref_GPa"), column(ok, "b0_GPa"))
    if parity:
        res.figures.append(("EOS bulk modulus parity", plots.parity(
            parity, "all-electron B0 (GPa)", "model B0 (GPa)", "ACWF bulk moduli", footer(datasets, ctx.models))))
    return res
